#!/usr/bin/env python3
"""Side-by-side benchmark: monitor-agent vs vmagent vs Prometheus in agent mode.

Each agent scrapes the same synthetic target (a static exposition of N series served over
HTTP) every second and remote-writes to the same real Prometheus receiver. Per agent we
report, over a window of --seconds after a --warmup (start-up is not counted), CPU
seconds per million samples delivered, compressed bytes sent per sample (from each
agent's own metrics), page faults and context switches per second, and peak RSS. Only
loopback is used; every process is stopped at the end. At 1,500 series use a window of
120 s or more: CPU time is counted in 10 ms ticks.

  python3 bench/agents.py --series 1500,20000,100000 --seconds 40
  python3 bench/agents.py --series 100000 --seconds 30 --agents monitor-agent,vmagent

One table per series count, with CPU and RSS also as a multiple of vmagent's.

Needs: prometheus, vmagent (Debian packages prometheus, victoria-metrics) and a built
monitor-agent (cargo build --profile dist -p monitor-agent, else release, else debug;
--agent-bin to override). As root it empties the page cache before each agent.
"""
import argparse, http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait_http(url, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read(); return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"not ready: {url}")

def exposition(n):
    lines = ["# TYPE bench_metric gauge"]
    for i in range(n):
        lines.append(f'bench_metric{{series="{i}",group="{i % 17}",shard="{i % 5}"}} {i * 1.5}')
    return ("\n".join(lines) + "\n").encode()

def serve(body):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

def cold_start():
    """Empties the page cache (as root) so each agent starts as after a boot. How much of
    a binary's code a process holds depends on how its pages entered the cache: a file
    just written (installed, copied, built) sits in large folios that newer kernels map
    whole on a fault, read back after a boot it is read ahead in smaller pieces. Without
    root the cache is left as it is, and the table says so."""
    global COLD
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        COLD = True
    except OSError:
        COLD = False

COLD = None

def resident(pid):
    """Resident KiB of a process by mapping: file (with permissions), [heap], [stack] or anon."""
    out, key = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                name = parts[5] if len(parts) > 5 else "[anon]"
                key = f"{os.path.basename(name)} {parts[1]}"
            elif parts[0] == "Rss:" and key:
                out[key] = out.get(key, 0) + int(parts[1])
    return sorted(out.items(), key=lambda kv: -kv[1])

def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    ticks = int(parts[11]) + int(parts[12])
    # CPU time from the process's CPU clock (all its threads, dead ones included), in
    # nanoseconds: /proc/<pid>/stat counts in ticks of 10 ms, 7 % of what a 1,500-series
    # agent uses in a minute. The kernel's share is read from the ticks.
    cpu = time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9
    sys_cpu = (int(parts[12]) / tick, ticks / tick)
    minflt = int(parts[7])
    rss = ctx = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                ctx += int(line.split()[1])
    return cpu, sys_cpu, rss, minflt, ctx

def scrape_metric(url, names):
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{")[0].split(" ")[0]
        if name in names:
            total += float(line.rsplit(" ", 1)[1])
    return total

def query(prom, q, at=None):
    data = urllib.parse.urlencode({"query": q, **({"time": f"{at:.3f}"} if at else {})}).encode()
    r = json.loads(urllib.request.urlopen(f"{prom}/api/v1/query", data=data, timeout=30).read())
    res = r["data"]["result"]
    return float(res[0]["value"][1]) if res else 0.0

def run_size(a, series, prom, agent_bin, work, procs):
    target = serve(exposition(series))
    target_addr = f"127.0.0.1:{target.server_address[1]}"
    rw = f"{prom}/api/v1/write"
    rows = []
    for name in a.agents.split(","):
        job = f"bench-{name}-{series}"
        port = free_port()
        d = f"{work}/{name}-{series}"; os.makedirs(d)
        if name == "monitor-agent":
            if not agent_bin:
                print("monitor-agent not built; skipping", file=sys.stderr); continue
            with open(f"{d}/agent.toml", "w") as f:
                f.write(f'[agent]\nlisten = "127.0.0.1:{port}"\nself_metrics = false\n[[scrape]]\njob = "{job}"\nurl = "http://{target_addr}/metrics"\ninterval = "1s"\ntimeout = "900ms"\n'
                        f'[remote_write]\nurl = "{rw}"\nbatch_send_deadline = "1s"\n[queue]\ndir = "{d}/queue"\nmax_size = "1GiB"\n'
                        f'fsync = {"false" if a.no_fsync else "true"}\n')
            cmd = [agent_bin, "--config", f"{d}/agent.toml"]
            bytes_names = {"monitor_agent_remote_write_bytes_total"}
        elif name == "vmagent":
            if not shutil.which("vmagent"):
                print("vmagent not installed; skipping", file=sys.stderr); continue
            with open(f"{d}/scrape.yml", "w") as f:
                f.write(f"scrape_configs:\n  - job_name: {job}\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['{target_addr}']\n")
            cmd = ["vmagent", f"-promscrape.config={d}/scrape.yml", f"-remoteWrite.url={rw}", f"-httpListenAddr=127.0.0.1:{port}", f"-remoteWrite.tmpDataPath={d}/tmp", "-loggerLevel=ERROR"]
            bytes_names = {"vmagent_remotewrite_bytes_sent_total"}
        elif name == "prometheus-agent":
            with open(f"{d}/cfg.yml", "w") as f:
                f.write(f"scrape_configs:\n  - job_name: {job}\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['{target_addr}']\nremote_write:\n  - url: {rw}\n")
            cmd = ["prometheus", "--enable-feature=agent", f"--config.file={d}/cfg.yml", f"--storage.agent.path={d}/wal", f"--web.listen-address=127.0.0.1:{port}"]
            bytes_names = {"prometheus_remote_storage_bytes_total"}
        else:
            raise SystemExit(f"unknown agent {name}")
        # monitor-agent runs with its systemd unit's environment (AGENT_HARDENING in
        # crates/bootstrap/src/systemd.rs): one glibc malloc arena, buffers up to 32 MiB
        # reused from the heap instead of mapped and unmapped per scrape. BENCH_AGENT_ENV
        # ("K=V K=V") adds or overrides variables, to measure another setting.
        env = None
        if name == "monitor-agent":
            env = dict(os.environ, MALLOC_ARENA_MAX="1", MALLOC_MMAP_THRESHOLD_="33554432",
                       MALLOC_TRIM_THRESHOLD_="33554432")
            env.update(e.split("=", 1) for e in os.environ.get("BENCH_AGENT_ENV", "").split() if e)
        if not a.warm_cache:
            cold_start()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(f"{d}/log", "w"), env=env)
        procs.append(p)
        # Measured after a warm-up, so start-up (runtime init, config, the first scrapes'
        # caches) is not counted against the steady state.
        time.sleep(a.warmup)
        cpu0, sys0, _, flt0, ctx0 = proc_stats(p.pid)
        bytes0 = scrape_metric(f"http://127.0.0.1:{port}/metrics", bytes_names)
        t0 = time.time()
        time.sleep(a.seconds)
        cpu, sys_cpu, rss, minflt, ctx = proc_stats(p.pid)
        t1 = time.time()
        (sys_t, all_t), (sys_t0, all_t0) = sys_cpu, sys0
        sys_cpu = 0.0 if all_t == all_t0 else (cpu - cpu0) * (sys_t - sys_t0) / (all_t - all_t0)
        cpu, minflt, ctx = cpu - cpu0, minflt - flt0, ctx - ctx0
        if a.resident:
            print(f"resident now, {name} at {series} series (KiB):", file=sys.stderr)
            for k, v in resident(p.pid):
                if v >= 64:
                    print(f"  {v:>7} {k}", file=sys.stderr)
        sent_bytes = scrape_metric(f"http://127.0.0.1:{port}/metrics", bytes_names) - bytes0
        p.terminate(); p.wait(timeout=30)
        time.sleep(2)
        # The samples scraped in the measured window (delivered by now, even if late).
        samples = query(prom, f'sum(count_over_time(bench_metric{{job="{job}"}}[{int((t1 - t0) * 1000)}ms]))', at=t1)
        rows.append((name, samples, cpu, sys_cpu, rss, sent_bytes, minflt / a.seconds, ctx / a.seconds))
    target.shutdown()
    return rows

def print_table(a, series, rows):
    vm = next(((cpu / s if s else 0, rss) for n, s, cpu, _, rss, *_ in rows if n == "vmagent"), None)
    start = "page cache emptied before each agent (as after a boot)" if COLD else "page cache left as it was"
    print(f"\nseries={series} interval=1s, measured {a.seconds}s per agent after a {a.warmup}s warm-up; {start}; receiver: Prometheus remote-write\n")
    print("| agent | samples delivered | CPU s / 1M samples | × vmagent | in the kernel | peak RSS MiB | × vmagent | bytes sent / sample | page faults / s | context switches / s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, samples, cpu, sys_cpu, rss, sent, faults, ctx in rows:
        per_m = cpu / samples * 1e6 if samples else float("nan")
        bps = sent / samples if samples else float("nan")
        cpu_x = f"{(cpu / samples) / vm[0]:.2f}" if vm and vm[0] and samples else "-"
        rss_x = f"{rss / vm[1]:.2f}" if vm and vm[1] else "-"
        kernel = f"{sys_cpu / cpu:.0%}" if cpu else "-"
        print(f"| {name} | {int(samples)} | {per_m:.2f} | {cpu_x} | {kernel} | {rss / 2**20:.1f} | {rss_x} | {bps:.2f} | {faults:.0f} | {ctx:.0f} |")
    sys.stdout.flush()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", default="1500", help="comma-separated series counts, one table each")
    ap.add_argument("--seconds", type=int, default=60, help="measured window per agent")
    ap.add_argument("--warmup", type=int, default=10, help="seconds run before the window (start-up not counted)")
    ap.add_argument("--agents", default="monitor-agent,vmagent,prometheus-agent")
    ap.add_argument("--agent-bin", default=None)
    ap.add_argument("--no-fsync", action="store_true", help="monitor-agent with [queue] fsync = false (default: fsync on, its default)")
    ap.add_argument("--warm-cache", action="store_true", help="leave the page cache as it is (default, as root: empty it before each agent)")
    ap.add_argument("--resident", action="store_true", help="print what is resident, by mapping, at the end of each agent's run (stderr)")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    agent_bin = a.agent_bin or next((p for p in [f"{root}/target/{prof}/monitor-agent" for prof in ("dist", "release", "debug")] if os.path.exists(p)), None)
    work = tempfile.mkdtemp(prefix="agent-bench-")
    procs = []
    try:
        prom_port = free_port(); prom = f"http://127.0.0.1:{prom_port}"
        with open(f"{work}/prom.yml", "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        procs.append(subprocess.Popen(["prometheus", f"--config.file={work}/prom.yml", f"--storage.tsdb.path={work}/prom-data",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-remote-write-receiver"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"{prom}/-/ready")
        for series in [int(x) for x in a.series.split(",")]:
            rows = run_size(a, series, prom, agent_bin, work, procs)
            print_table(a, series, rows)
    finally:
        for p in procs:
            try:
                p.terminate(); p.wait(timeout=10)
            except Exception:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
