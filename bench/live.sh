#!/usr/bin/env bash
# Live benchmark (issue 7): nginx + wrk at full rate on a namespace's
# loopback, in rounds; each round runs wrk alone, beside
# `tcpdump -w /dev/null`, beside xray-capture (every request traced,
# segments sent to a counting UDP listener), beside xray-capture with
# the daemon off (segments to a file: the capture's own cost, without the
# daemon's UDP, which costs the same whoever sends), and beside
# xray-capture with its default sampling (the X-Ray default rule: the
# first request each second and 5% of the rest sent; issue 21), in an
# order that rotates per round. Prints requests/s for each run, the median ratios, kernel drops,
# segments received against requests served (nginx's access log), the
# agent's CPU time per 1,000 requests, and how long after the packet that
# completed its response each segment reached the listener.
# With PROFILE=1 (needs perf), one more default-sampling run is recorded
# with perf, and the share of the agent's CPU samples in the Go runtime's
# parking and waking (the pipeline goroutine waits in poll for each ring
# block, and the sender goroutine is woken per batch) is printed.
# AGENT_ARGS are added to every xray-capture command line (e.g. the hidden
# --ring-block-kb and --ring-block-timeout, to try ring shapes).
# Usage: [PIN=1] [PROFILE=1] [AGENT_ARGS=...] bench/live.sh [rounds, default 5] [seconds per run, default 5]
# PIN=1 keeps nginx on CPU 1 and wrk on CPU 0 (bench/lib.sh: pin).
source "$(dirname "$0")/lib.sh"
need_root
ROUNDS=${1:-5}
SECS=${2:-5}
install_packages
build
netns_up
trap netns_down EXIT
cd "$BENCH_DIR"
nginx_start $NS_LO "127.0.0.1:$PORT" nginx-live
URL=http://127.0.0.1:$PORT
ip netns exec $NS_LO wrk -t2 -c32 -d1s -s "$REPO/bench/mix.lua" $URL >/dev/null # warm up

RESULTS=$BENCH_DIR/live.tsv
: >"$RESULTS"

run_none() { echo "none $(wrk_run $NS_LO $URL "$SECS")" >>"$RESULTS"; }

# traffic PID [LISTENER] runs wrk beside PID and sets RPS, CPU (PID's CPU
# seconds meanwhile, and until the last ring blocks retire and the last
# batch goes), LCPU (the same for LISTENER) and BEFORE (nginx's log count
# before). The caller stops PID, then takes SERVED=$(served).
traffic() {
  local pid=$1 listener=${2:-} cpu0 lcpu0=0
  BEFORE=$(access_count)
  cpu0=$(cpu_seconds "$pid")
  [ -z "$listener" ] || lcpu0=$(cpu_seconds "$listener")
  RPS=$(wrk_run $NS_LO $URL "$SECS")
  sleep 0.5
  CPU=$(awk -v a="$cpu0" -v b="$(cpu_seconds "$pid")" 'BEGIN {print b - a}')
  LCPU=0
  [ -z "$listener" ] || LCPU=$(awk -v a="$lcpu0" -v b="$(cpu_seconds "$listener")" 'BEGIN {print b - a}')
}
served() { echo $(($(access_count) - BEFORE)); }

# start_agent ARGS... starts xray-capture in the namespace with ARGS and
# waits until it captures; AGENT is its pid.
# SAMPLING=default keeps the default rule instead of --sampling=false.
start_agent() {
  local sampling=--sampling=false
  [ "${SAMPLING:-}" != default ] || sampling=
  ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench $sampling ${AGENT_ARGS:-} "$@" 2>xray.err &
  AGENT=$!
  for _ in $(seq 100); do grep -q capturing xray.err && break; sleep 0.05; done
  grep -q capturing xray.err || { cat xray.err >&2; exit 1; }
}
kernel_drops() { sed -n 's/.* kernel_drops=\([0-9]*\).*/\1/p' xray.err; }

run_tcpdump() {
  ip netns exec $NS_LO tcpdump -i lo -w /dev/null 2>tcpdump.err &
  local pid=$!
  sleep 1
  traffic $pid
  kill -INT $pid
  wait $pid || true
  echo "tcpdump $RPS $(awk '/dropped by kernel/ {print $1}' tcpdump.err) $(served) $CPU" >>"$RESULTS"
}

# run_xray [MODE] traces every request (mode xray), or samples by the
# default rule (mode xraydefault).
run_xray() {
  local mode=${1:-xray}
  ip netns exec $NS_LO "$BIN/benchtool" listen -addr 127.0.0.1:2000 -out listen.json &
  local listener=$!
  start_agent --daemon-address 127.0.0.1:2000 --centralized-sampling off
  traffic $AGENT $listener
  kill -TERM $AGENT
  wait $AGENT
  local n
  n=$(served)
  kill -INT $listener
  wait $listener
  local datagrams p50 p99
  datagrams=$(sed 's/.*"datagrams":\([0-9]*\).*/\1/' listen.json)
  p50=$(sed 's/.*"p50":\([0-9.e+-]*\).*/\1/' listen.json)
  p99=$(sed 's/.*"p99":\([0-9.e+-]*\).*/\1/' listen.json)
  echo "$mode $RPS $(kernel_drops) $n $datagrams $CPU $p50 $p99 $LCPU" >>"$RESULTS"
}

run_xray_default() { SAMPLING=default run_xray xraydefault; }

run_xray_file() {
  rm -f live.jsonl # a live --output appends
  start_agent --daemon-address off --output live.jsonl
  traffic $AGENT
  kill -TERM $AGENT
  wait $AGENT
  echo "xrayfile $RPS $(kernel_drops) $(served) $(wc -l <live.jsonl) $CPU" >>"$RESULTS"
}

modes=(run_none run_tcpdump run_xray run_xray_file run_xray_default)
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!modes[@]}"; do
    ${modes[$(((r + i) % ${#modes[@]}))]}
  done
done
# profile_default records the agent at default sampling under wrk and
# prints where its CPU went: the Go scheduler's parking and waking (any
# sample with a scheduler or futex frame), system calls, the rest.
profile_default() {
  SAMPLING=default start_agent --daemon-address off --output /dev/null
  perf record -q -F 4999 -g -p $AGENT -o agent.perf.data -- sleep "$SECS" 2>/dev/null &
  local perf=$!
  wrk_run $NS_LO $URL "$SECS" >/dev/null
  wait $perf
  kill -TERM $AGENT
  wait $AGENT
  perf script -i agent.perf.data -F ip,sym 2>/dev/null | awk '
    /^$/ { if (n) { total++; if (sched) parked++; else if (sys) syscalls++ } n = 0; sched = 0; sys = 0; next }
    { n++ }
    / runtime\.(park_m|schedule|findRunnable|stopm|startm|mPark|notesleep|notewakeup|futexsleep|futexwakeup|wakep|handoffp|exitsyscall0|entersyscallblock|gopark|goready|ready|stealWork|runqgrab)/ { sched = 1 }
    / (entry_SYSCALL_64|do_syscall_64)/ { sys = 1 }
    END { printf "agent at default sampling, %d samples: Go runtime parking and waking %.1f%%, other system calls (ring poll, sends) %.1f%%, the rest (decoding, tracking, encoding) %.1f%%\n", total, 100 * parked / total, 100 * syscalls / total, 100 * (total - parked - syscalls) / total }'
}
[ "${PROFILE:-}" != 1 ] || profile_default
nginx_stop

echo "| run | requests/s | kernel drops | requests served | segments received | CPU per request: capturer (listener) | segment latency p50 / p99 |"
echo "|---|---|---|---|---|---|---|"
awk '
  $1 == "none" { printf "| wrk alone | %.0f | | | | | |\n", $2 }
  $1 == "tcpdump" { printf "| tcpdump -w /dev/null | %.0f | %s | %d | | %.2f us | |\n", $2, $3, $4, $5 / $4 * 1e6 }
  $1 == "xray" { printf "| xray-capture | %.0f | %s | %d | %d | %.2f us (%.2f us) | %.2f / %.2f ms |\n", $2, $3, $4, $5, $6 / $4 * 1e6, $9 / $4 * 1e6, $7, $8 }
  $1 == "xrayfile" { printf "| xray-capture, daemon off | %.0f | %s | %d | %d | %.2f us | |\n", $2, $3, $4, $5, $6 / $4 * 1e6 }
  $1 == "xraydefault" { printf "| xray-capture, default sampling | %.0f | %s | %d | %d | %.2f us (%.2f us) | %.2f / %.2f ms |\n", $2, $3, $4, $5, $6 / $4 * 1e6, $9 / $4 * 1e6, $7, $8 }
' "$RESULTS"
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
none=$(awk '$1 == "none" {print $2}' "$RESULTS" | median)
tcpd=$(awk '$1 == "tcpdump" {print $2}' "$RESULTS" | median)
xray=$(awk '$1 == "xray" {print $2}' "$RESULTS" | median)
ratio=$(paste <(awk '$1 == "xray" {print $2}' "$RESULTS") <(awk '$1 == "tcpdump" {print $2}' "$RESULTS") | awk '{print $1 / $2}' | median)
us=$(awk '$1 == "xray" {print $6 / $4 * 1e6}' "$RESULTS" | median)
xfile=$(awk '$1 == "xrayfile" {print $2}' "$RESULTS" | median)
ratio_file=$(paste <(awk '$1 == "xrayfile" {print $2}' "$RESULTS") <(awk '$1 == "tcpdump" {print $2}' "$RESULTS") | awk '{print $1 / $2}' | median)
us_file=$(awk '$1 == "xrayfile" {print $6 / $4 * 1e6}' "$RESULTS" | median)
p99=$(awk '$1 == "xray" {print $8}' "$RESULTS" | median)
xdef=$(awk '$1 == "xraydefault" {print $2}' "$RESULTS" | median)
us_def=$(awk '$1 == "xraydefault" {print $6 / $4 * 1e6}' "$RESULTS" | median)
sent_def=$(awk '$1 == "xraydefault" {print $5 / $4}' "$RESULTS" | median)
echo
echo "median requests/s: wrk alone $none, beside tcpdump $tcpd, beside xray-capture $xray, beside xray-capture with the daemon off $xfile"
echo "median ratio xray-capture / tcpdump (same round): $ratio; xray-capture / alone: $(awk -v a="$xray" -v b="$none" 'BEGIN {printf "%.3f", a / b}')"
echo "median ratio xray-capture with the daemon off / tcpdump (same round): $ratio_file"
echo "median agent CPU per traced request: $us us (daemon off: $us_file us); median latency p99: $p99 ms"
echo "default sampling: median requests/s $xdef, agent CPU per request seen $us_def us, share of requests sent $(awk -v s="$sent_def" 'BEGIN {printf "%.3f", s}')"
awk '($1 == "xray" || $1 == "xrayfile") && ($3 != 0 || $4 != $5) || $1 == "xraydefault" && $3 != 0 {bad = 1} END {print bad ? "NOT every served request was traced, or the kernel dropped" : "every run: zero kernel drops, every served request traced"}' "$RESULTS"
