#!/usr/bin/env python3
"""Writes Telegraf-shaped write batches for the benchmark scripts.

Usage: telegraf-batches.py OUTDIR BATCHES T0 [--gzip]

Batch b (OUTDIR/b.txt, and OUTDIR/b.gz with --gzip) holds 5,000 `cpu` points of
5 fields, for hosts 0-4,999 (even b) or 5,000-9,999 (odd b): 10,000 series, one
10 s interval every two batches, starting at T0 (unix ns). The values are
random with a fixed seed, so every run writes the same batches.
"""
import gzip
import random
import sys

out, nb, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with_gzip = "--gzip" in sys.argv[4:]
rnd = random.Random(7)
regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]
for b in range(nb):
    ts = t0 + (b // 2) * 10_000_000_000
    lines = []
    for s in range((b % 2) * 5000, (b % 2) * 5000 + 5000):
        u, y = rnd.uniform(0, 60), rnd.uniform(0, 20)
        lines.append("cpu,host=host-%05d,region=%s usage_user=%.4f,usage_system=%.4f,usage_idle=%.4f,usage_iowait=%.4f,usage_steal=%.4f %d\n"
                     % (s, regions[s % len(regions)], u, y, 100 - u - y, rnd.uniform(0, 3), rnd.uniform(0, 0.5), ts))
    body = "".join(lines).encode()
    with open("%s/%d.txt" % (out, b), "wb") as f:
        f.write(body)
    if with_gzip:
        with open("%s/%d.gz" % (out, b), "wb") as f:
            f.write(gzip.compress(body, compresslevel=6))
