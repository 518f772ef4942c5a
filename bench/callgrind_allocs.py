#!/usr/bin/env python3
"""Heap allocations in a callgrind profile: the calls into Rust's allocator shims
(__rust_alloc, __rust_alloc_zeroed, __rust_realloc), which every allocation passes through
whatever the global allocator is (glibc malloc, mimalloc). Usage: callgrind_allocs.py FILE"""
import re
import sys

WANTED = re.compile(r"__rust_(alloc|realloc|alloc_zeroed)$")
NAME = re.compile(r"c?fn=\((\d+)\)(?: (.*))?")

names = {}
total = 0
callee = None
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        m = NAME.match(line.strip())
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            callee = names.get(m.group(1), "") if line.startswith("cfn=") else None
        elif line.startswith("calls=") and callee is not None:
            if WANTED.search(callee):
                total += int(line[6:].split()[0])
            callee = None
print(total)
