#!/usr/bin/env python3
"""CPU by stage, from `perf script` output of an isop benchmark.

Reads the text `perf script -F tid,ip,sym` prints (one stack per sample,
leaf first, blank line between samples) and puts each sample in the first
stage whose marker appears in its stack, scanning the stages in the order
below (so a signature check inside the receive path counts as
verification, not as the receive path). Samples of the load generators'
signing before the clock starts are left out. Prints each stage's share
of the timed samples and, given the number of notices timed and the
sampling frequency, its CPU time per notice.

Usage: perf script -F tid,ip,sym -i perf.data | bench/stages.py NOTICES HZ
(bench/profile.sh runs all of it.)
"""

import sys

# (stage, markers): a sample belongs to the first stage one of whose
# markers is a substring of a frame in its stack.
STAGES = [
    ("(load generators' signing, before the clock)", ["ingest::presign"]),
    ("signature verification (ed25519 batch)", [
        "isop_core::keys::verify_batch", "ed25519_dalek::batch::verify_batch",
        "ed25519_dalek::verifying::VerifyingKey::verify",
    ]),
    ("checks: decode, TLP, policy, disclosures", ["isop_core::protocol::decide"]),
    ("receipts: build and sign", ["ReceiptDraft::sign", "SignedReceipts"]),
    ("senders: notices sealed and signed (node to node)", ["NoticeDraft::seal"]),
    ("store: sled, the group commit's writes", ["sled::tree::Tree::apply_batch"]),
    ("store: sled, flush and fsync", ["sled::tree::Tree::flush", "sled::pagecache::logger", "sled::pagecache::iobuf"]),
    ("store: sled, other (its threads, reads)", ["sled::"]),
    ("store: group commit, tree, indexes", ["isop_store::"]),
    ("QUIC and TLS (quinn, rustls, ring; UDP syscalls)", ["quinn", "rustls::", "ring::", "ring_core"]),
    ("frames: encode and decode (prost)", ["prost::", "isop_net::frame", "isop_proto::"]),
    ("receive path: queueing, entries", ["isop_node::peer::receive", "isop_node::peer::serve"]),
    ("load generators: send and await", ["ingest::batched", "ingest::one_by_one", "ingest::node_to_node"]),
    ("node: delivery workers, sending", ["isop_node::"]),
    ("kernel, outside the stages above", ["[kernel", "do_syscall", "entry_SYSCALL"]),
    ("scheduler and runtime (tokio, futex, wake-ups)", ["tokio::", "futex", "schedule", "epoll", "finish_task_switch"]),
    ("allocator", ["mi_", "_mi_"]),
]


def samples(lines):
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        if line.startswith(("\t", " ")):
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "")
        # a header line (the thread id) starts a sample
    if stack:
        yield stack


def main():
    notices = float(sys.argv[1]) if len(sys.argv) > 1 else 0
    hz = float(sys.argv[2]) if len(sys.argv) > 2 else 0
    counts = {name: 0 for name, _ in STAGES}
    other = 0
    for stack in samples(sys.stdin):
        for name, markers in STAGES:
            if any(m in frame for frame in stack for m in markers):
                counts[name] += 1
                break
        else:
            other += 1
    skipped = counts.pop(STAGES[0][0])
    timed = sum(counts.values()) + other
    rows = sorted(counts.items(), key=lambda kv: -kv[1]) + [("other", other)]
    print(f"CPU by stage ({timed} timed samples; {skipped} of signing before the clock left out)")
    for name, n in rows:
        share = 100.0 * n / timed if timed else 0.0
        per = f"{n / hz / notices * 1e6:7.1f} us/notice" if notices and hz else ""
        print(f"  {name:<48} {share:5.1f} %  {per}")
    if notices and hz:
        print(f"  {'all (2 cores)':<48} 100.0 %  {timed / hz / notices * 1e6:7.1f} us/notice")


if __name__ == "__main__":
    main()
