#!/usr/bin/env bash
# Runs every benchmark of issue 7 once, in order, and writes the results
# with the machine and the commands to $BENCH_DIR/report.md (also printed):
# the per-stage Go benchmarks, the standard captures, the offline replay
# against tshark, the live runs beside nginx + wrk, the apps' cost of the
# SDK middleware against xray-capture (bench/sdk.sh), and the memory with
# 10,000 idle connections. About 15 minutes on a 2-core machine.
# Usage: bench/run-all.sh [seconds of traffic per capture, default 10]
# BENCH_QUICK=1 runs everything briefly (CI's check that the scripts work;
# its figures mean nothing).
source "$(dirname "$0")/lib.sh"
need_root
CAPTURE_SECONDS=${1:-10}
LIVE_ARGS="9 5"
SDK_ARGS="5 5"
IDLE_CONNS=10000
BENCH_FLAGS=()
if [ "${BENCH_QUICK:-}" = 1 ]; then
  CAPTURE_SECONDS=1 LIVE_ARGS="1 1" SDK_ARGS="1 1" IDLE_CONNS=1000 BENCH_FLAGS=(-benchtime=1x)
fi
install_packages
REPORT=$BENCH_DIR/report.md
{
  echo "## Machine"
  echo
  echo '```'
  echo "$(nproc) CPUs: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "$(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r), $(go version | cut -d' ' -f3)"
  echo "$(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(tshark -v 2>/dev/null | head -1), $(tcpdump --version | head -1)"
  echo '```'
  echo
  echo "## Per stage: \`go test -run '^\$' -bench . -benchmem ./capture ./reassembly ./httpparse ./segmenter ./emitter ./cmd/xray-capture\`"
  echo
  echo '```'
  (cd "$REPO" && go test -run '^$' -bench . -benchmem "${BENCH_FLAGS[@]}" ./capture ./reassembly ./httpparse ./segmenter ./emitter ./cmd/xray-capture |
    grep -E '^Benchmark')
  echo '```'
  echo
  echo "## Standard captures: \`bench/make-capture.sh $CAPTURE_SECONDS\`"
  echo
  echo '```'
  bash "$REPO/bench/make-capture.sh" "$CAPTURE_SECONDS"
  echo '```'
  echo
  echo "## Offline: \`bench/offline.sh\`"
  echo
  bash "$REPO/bench/offline.sh"
  echo
  echo "## Live: \`bench/live.sh $LIVE_ARGS\`"
  echo
  bash "$REPO/bench/live.sh" $LIVE_ARGS
  echo
  echo "## Beside the SDK middleware: \`bench/sdk.sh $SDK_ARGS\`"
  echo
  bash "$REPO/bench/sdk.sh" $SDK_ARGS
  echo
  echo "## Memory: \`bench/memory.sh $IDLE_CONNS\`"
  echo
  echo '```'
  bash "$REPO/bench/memory.sh" $IDLE_CONNS
  echo '```'
} 2>&1 | grep -v '^debconf' | tee "$REPORT"
