#!/usr/bin/env python3
"""Heap allocations in a callgrind profile: the calls into glibc's allocator entry points
(malloc, calloc, realloc, posix_memalign, aligned_alloc), which Rust's default global
allocator uses. Counted at libc, whose symbols are there even in the stripped release
binary. Usage: callgrind_allocs.py FILE"""
import re
import sys

WANTED = re.compile(r"^(malloc|calloc|realloc|posix_memalign|aligned_alloc)$")
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
