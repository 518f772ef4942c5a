#!/usr/bin/env python3
"""The local stack's Alertmanager receiver: prints each notification's alerts in the
terminal, one line per alert (status, severity, name, host, summary).

    scripts/alert-webhook.py [PORT]     # default 9095; POST /alerts
"""
import json
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length", "0"))
        if length > 4 * 1024 * 1024:
            self.send_response(413)
            self.end_headers()
            return
        try:
            msg = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        now = datetime.now().strftime("%H:%M:%S")
        for a in msg.get("alerts", []):
            labels, notes = a.get("labels", {}), a.get("annotations", {})
            print(
                f"{now} ALERT {a.get('status', '?').upper():8} "
                f"{labels.get('severity', '-'):8} {labels.get('alertname', '?')} "
                f"host={labels.get('host', '-')}: {notes.get('summary', '')}",
                flush=True,
            )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet: only alerts are printed
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9095
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
