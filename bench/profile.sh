#!/usr/bin/env bash
# CPU per notice by stage, from a profile of one ingest scenario.
#
# Samples every thread (load generators included) with `perf record`
# (software clock, DWARF call stacks) while the ingest benchmark runs one
# scenario, then puts each sample in a stage by bench/stages.py and prints
# each stage's share and its CPU time per notice. The load generators'
# signing before the clock starts is left out.
#
# Usage: bench/profile.sh [batch|nodes]   (default batch: DeliverBatch
#        frames from two senders; nodes: node to node with Node::send)
#        ISOP_BENCH_NOTICES=N (default 100,000; node to node at most 20,000)
# Needs perf (Debian's linux-perf), installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-batch}"
n="${ISOP_BENCH_NOTICES:-100000}"
if [ "$scenario" = nodes ]; then n=$((n < 20000 ? n : 20000)); fi
hz=999

if ! command -v perf >/dev/null; then
  echo "installing perf (linux-perf)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q linux-perf
  else sudo apt-get update -q && sudo apt-get install -y -q linux-perf; fi
fi
bench="$(cargo bench -p isop-node --bench ingest --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ingest" and m.get("executable"):
        print(m["executable"])')"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
ISOP_BENCH_ONLY="$scenario" ISOP_BENCH_NOTICES="$n" \
  perf record -q -e cpu-clock -F "$hz" -g --call-graph dwarf,16384 -o "$out/perf.data" \
  "$bench" --bench
perf script -F tid,ip,sym -i "$out/perf.data" 2>/dev/null | python3 bench/stages.py "$n" "$hz"
