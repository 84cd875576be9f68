#!/usr/bin/env bash
# isop and NATS JetStream side by side, in one run, on this machine.
#
# Both take 1 KiB messages over mutual TLS on loopback and acknowledge each
# one, at 1, 16 and 256 in flight. What each guarantees differs:
#   - isop: each notice's ed25519 signature is verified, its TLP, policy and
#     labelled fields checked, it is appended to a Merkle log and fsynced
#     (group commit) before a signed receipt is returned;
#   - NATS JetStream (Debian's nats-server): the message is written to the
#     stream's file store and acknowledged; no signature is checked, and the
#     store is fsynced in the background, not per acknowledgement (this
#     nats-server has no per-ack sync setting).
#
# Usage: bench/compare-nats.sh            (ISOP_BENCH_NOTICES=N to change the size)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${ISOP_BENCH_NOTICES:-50000}"

if ! command -v nats-server >/dev/null; then
  echo "installing Debian's nats-server" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q nats-server
  else sudo apt-get update -q && sudo apt-get install -y -q nats-server; fi
fi

cargo build -q --release --manifest-path bench/nats-load/Cargo.toml
nats_out="$(bench/nats-load/target/release/nats-load "$n")"
isop_out="$(ISOP_BENCH_NOTICES="$n" ISOP_BENCH_FANOUT=0 cargo bench -q -p isop-node --bench ingest 2>/dev/null)"

echo "$nats_out"
echo "$isop_out"
echo
echo "isop / NATS, same run:"
for w in 1 16 256; do
  nats_line="$(grep -E "publish\+ack, $w in flight" <<<"$nats_out")"
  isop_line="$(grep -E "Deliver, $w in flight" <<<"$isop_out")"
  awk -v w="$w" -v a="$isop_line" -v b="$nats_line" 'BEGIN {
    split(a, x, " +"); split(b, y, " +");
    # fields: rate before "notices/s", p99 after "p99"
    for (i = 1; i <= length(x); i++) { if (x[i] == "notices/s") ri = x[i-1]; if (x[i] == "p99") pi = x[i+1] }
    for (i = 1; i <= length(y); i++) { if (y[i] == "notices/s") rn = y[i-1]; if (y[i] == "p99") pn = y[i+1] }
    printf "  %3d in flight: throughput %.2fx (%s vs %s /s), p99 latency %.1fx (%s vs %s ms)\n", w, ri / rn, ri, rn, pi / pn, pi, pn
  }'
done
batch_line="$(grep -E "DeliverBatch" <<<"$isop_out")"
nats256="$(grep -E "publish\+ack, 256 in flight" <<<"$nats_out")"
awk -v a="$batch_line" -v b="$nats256" 'BEGIN {
  split(a, x, " +"); split(b, y, " +");
  for (i = 1; i <= length(x); i++) if (x[i] == "notices/s") ri = x[i-1];
  for (i = 1; i <= length(y); i++) if (y[i] == "notices/s") rn = y[i-1];
  printf "  isop DeliverBatch (as nodes send) vs NATS at 256 in flight: throughput %.2fx\n", ri / rn
}'
