#!/usr/bin/env python3
"""isop's ratio to each NATS anchor, from one run of bench/compare-nats.sh.

Usage: bench/ratios.py ISOP_OUTPUT NATS_OUTPUT

ISOP_OUTPUT is what `cargo bench -p isop-node --bench ingest` printed;
NATS_OUTPUT what nats-load printed, each line prefixed with its server's
tag in brackets ("[nats-2.15-always] ..."). Each isop line is set against
each NATS line at the same number in flight (DeliverBatch, 256 frames in
flight per sender at most, against 256 in flight).
"""

import re
import sys

LINE = re.compile(
    r"^\s*(?P<what>.+?)\s+(?P<rate>\d+) notices/s\s+p50\s+(?P<p50>[\d.]+) ms\s+p99\s+(?P<p99>[\d.]+) ms"
)
ANCHORS = [
    ("nats-2.9-default", "publish+ack", "NATS 2.9, sync default"),
    ("nats-2.15-default", "publish+ack", "NATS 2.15, sync default"),
    ("nats-2.15-always", "publish+ack", "NATS 2.15, sync always"),
    ("nats-2.15-default", "signed pipeline", "NATS 2.15 signed pipeline, sync default"),
    ("nats-2.15-always", "signed pipeline", "NATS 2.15 signed pipeline, sync always"),
]


def parse(path, tagged):
    runs = {}
    for line in open(path):
        tag = ""
        if tagged:
            m = re.match(r"^\[([^\]]+)\] (.*)$", line)
            if not m:
                continue
            tag, line = m.group(1), m.group(2)
        m = LINE.match(line)
        if m:
            runs[(tag, m.group("what").strip())] = (
                float(m.group("rate")),
                float(m.group("p50")),
                float(m.group("p99")),
            )
    return runs


def main():
    isop = parse(sys.argv[1], tagged=False)
    nats = parse(sys.argv[2], tagged=True)
    rows = [(f"Deliver, {w} in flight", w) for w in (1, 16, 256)]
    rows.append(("DeliverBatch of 256 (latency per batch)", 256))
    print("isop / NATS, same run: throughput ratio (isop vs NATS, /s); p50 and p99 (isop vs NATS, ms)")
    for what, window in rows:
        mine = isop.get(("", what))
        if mine is None:
            print(f"  {what}: not in isop's output")
            continue
        print(f"  isop {what}: {mine[0]:.0f}/s, p50 {mine[1]:.3f} ms, p99 {mine[2]:.3f} ms")
        for tag, kind, name in ANCHORS:
            theirs = nats.get((tag, f"{kind}, {window} in flight"))
            if theirs is None:
                continue
            print(
                f"    vs {name + f', {window} in flight:':<56} {mine[0] / theirs[0]:5.2f}x "
                f"({mine[0]:.0f} vs {theirs[0]:.0f});  p50 {mine[1]:.2f} vs {theirs[1]:.2f};  "
                f"p99 {mine[2]:.2f} vs {theirs[2]:.2f}"
            )


if __name__ == "__main__":
    main()
