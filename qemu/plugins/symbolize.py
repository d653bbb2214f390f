#!/usr/bin/env python3
"""Maps tbcount output to ROM functions: guest instructions per function.

usage: symbolize.py ROM.elf BODY_HEX TBCOUNT.txt [LOW_HEX [TOP_N]]
BODY_HEX is the body address the ROM prints at POST ("BODY 07f72000"),
LOW_HEX the low copy's linear address (the "LOW 9e80" segment * 16).
"""
import subprocess, sys, bisect, collections
elf, body, hot = sys.argv[1], int(sys.argv[2], 16), sys.argv[3]
low = int(sys.argv[4], 16) if len(sys.argv) > 4 else None
syms = []
for l in subprocess.run(["nm", "-C", "--defined-only", "-n", elf], capture_output=True, text=True).stdout.splitlines():
    p = l.split(" ", 2)
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), p[2]))
addrs = [a for a, _ in syms]
per = collections.Counter(); total = 0; other = collections.Counter()
for l in open(hot):
    pc, n, c = l.split(); pc = int(pc, 16); n = int(n); c = int(c)
    w = n * c; total += w
    if body <= pc < body + 0x40000:
        off = pc - body
        i = bisect.bisect_right(addrs, off) - 1
        name = syms[i][1] if i >= 0 else "?"
        per[name[:90]] += w
    elif low is not None and low <= pc < low + 0x2000:
        per["<low copy stubs>"] += w
    else:
        other["%05x" % (pc >> 12)] += w
print("total guest insns %d" % total)
for name, w in per.most_common(int(sys.argv[5]) if len(sys.argv) > 5 else 30):
    print("%6.2f%% %12d %s" % (100.0 * w / total, w, name))
print("outside body (by 4K page):")
for pg, w in other.most_common(8):
    print("%6.2f%% %12d page %s" % (100.0 * w / total, w, pg))
