#!/usr/bin/env bash
# Live benchmark (issue 7): nginx + wrk at full rate on a namespace's
# loopback, in rounds; each round runs wrk alone, beside
# `tcpdump -w /dev/null`, beside xray-capture (every request traced,
# segments sent to a counting UDP listener), and beside xray-capture with
# the daemon off (segments to a file: the capture's own cost, without the
# daemon's UDP, which costs the same whoever sends), in an order that
# rotates per round. Prints requests/s for each run, the median ratios, kernel drops,
# segments received against requests served (nginx's access log), the
# agent's CPU time per 1,000 requests, and how long after the packet that
# completed its response each segment reached the listener.
# Usage: [PIN=1] bench/live.sh [rounds, default 5] [seconds per run, default 5]
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
start_agent() {
  ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench --sampling=false "$@" 2>xray.err &
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

run_xray() {
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
  echo "xray $RPS $(kernel_drops) $n $datagrams $CPU $p50 $p99 $LCPU" >>"$RESULTS"
}

run_xray_file() {
  rm -f live.jsonl # a live --output appends
  start_agent --daemon-address off --output live.jsonl
  traffic $AGENT
  kill -TERM $AGENT
  wait $AGENT
  echo "xrayfile $RPS $(kernel_drops) $(served) $(wc -l <live.jsonl) $CPU" >>"$RESULTS"
}

modes=(run_none run_tcpdump run_xray run_xray_file)
for r in $(seq 1 "$ROUNDS"); do
  for i in 0 1 2 3; do
    ${modes[$(((r + i) % 4))]}
  done
done
nginx_stop

echo "| run | requests/s | kernel drops | requests served | segments received | CPU per request: capturer (listener) | segment latency p50 / p99 |"
echo "|---|---|---|---|---|---|---|"
awk '
  $1 == "none" { printf "| wrk alone | %.0f | | | | | |\n", $2 }
  $1 == "tcpdump" { printf "| tcpdump -w /dev/null | %.0f | %s | %d | | %.2f us | |\n", $2, $3, $4, $5 / $4 * 1e6 }
  $1 == "xray" { printf "| xray-capture | %.0f | %s | %d | %d | %.2f us (%.2f us) | %.2f / %.2f ms |\n", $2, $3, $4, $5, $6 / $4 * 1e6, $9 / $4 * 1e6, $7, $8 }
  $1 == "xrayfile" { printf "| xray-capture, daemon off | %.0f | %s | %d | %d | %.2f us | |\n", $2, $3, $4, $5, $6 / $4 * 1e6 }
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
echo
echo "median requests/s: wrk alone $none, beside tcpdump $tcpd, beside xray-capture $xray, beside xray-capture with the daemon off $xfile"
echo "median ratio xray-capture / tcpdump (same round): $ratio; xray-capture / alone: $(awk -v a="$xray" -v b="$none" 'BEGIN {printf "%.3f", a / b}')"
echo "median ratio xray-capture with the daemon off / tcpdump (same round): $ratio_file"
echo "median agent CPU per traced request: $us us (daemon off: $us_file us); median latency p99: $p99 ms"
awk '($1 == "xray" || $1 == "xrayfile") && ($3 != 0 || $4 != $5) {bad = 1} END {print bad ? "NOT every served request was traced, or the kernel dropped" : "every run: zero kernel drops, every served request traced"}' "$RESULTS"
