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
# Usage: bench/live.sh [rounds, default 5] [seconds per run, default 5]
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

run_tcpdump() {
  ip netns exec $NS_LO tcpdump -i lo -w /dev/null 2>tcpdump.err &
  local pid=$!
  sleep 1
  local before cpu0 rps cpu1 after
  before=$(access_count)
  cpu0=$(cpu_seconds $pid)
  rps=$(wrk_run $NS_LO $URL "$SECS")
  sleep 0.5
  cpu1=$(cpu_seconds $pid)
  kill -INT $pid
  wait $pid || true
  after=$(access_count)
  echo "tcpdump $rps $(awk '/dropped by kernel/ {print $1}' tcpdump.err) $((after - before)) $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')" >>"$RESULTS"
}

run_xray() {
  ip netns exec $NS_LO "$BIN/benchtool" listen -addr 127.0.0.1:2000 -out listen.json &
  local listener=$!
  ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench --sampling=false \
    --daemon-address 127.0.0.1:2000 --centralized-sampling off 2>xray.err &
  local pid=$!
  for _ in $(seq 100); do grep -q capturing xray.err && break; sleep 0.05; done
  grep -q capturing xray.err || { cat xray.err >&2; exit 1; }
  local before cpu0 rps cpu1 after lcpu0 lcpu1
  before=$(access_count)
  cpu0=$(cpu_seconds $pid)
  lcpu0=$(cpu_seconds $(pgrep -f "benchtool listen -addr 127.0.0.1:2000" | head -1))
  rps=$(wrk_run $NS_LO $URL "$SECS")
  sleep 0.5 # the last blocks retire and the last batch goes
  cpu1=$(cpu_seconds $pid)
  lcpu1=$(cpu_seconds $(pgrep -f "benchtool listen -addr 127.0.0.1:2000" | head -1))
  kill -TERM $pid
  wait $pid
  after=$(access_count)
  kill -INT $listener
  wait $listener
  local drops datagrams p50 p99
  drops=$(sed -n 's/.* kernel_drops=\([0-9]*\).*/\1/p' xray.err)
  datagrams=$(sed 's/.*"datagrams":\([0-9]*\).*/\1/' listen.json)
  p50=$(sed 's/.*"p50":\([0-9.e+-]*\).*/\1/' listen.json)
  p99=$(sed 's/.*"p99":\([0-9.e+-]*\).*/\1/' listen.json)
  echo "xray $rps $drops $((after - before)) $datagrams $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}') $p50 $p99 $(awk -v a="$lcpu0" -v b="$lcpu1" 'BEGIN {print b - a}')" >>"$RESULTS"
}

run_xray_file() {
  ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench --sampling=false \
    --daemon-address off --output live.jsonl 2>xray.err &
  local pid=$!
  for _ in $(seq 100); do grep -q capturing xray.err && break; sleep 0.05; done
  grep -q capturing xray.err || { cat xray.err >&2; exit 1; }
  local before cpu0 rps cpu1 after
  before=$(access_count)
  cpu0=$(cpu_seconds $pid)
  rps=$(wrk_run $NS_LO $URL "$SECS")
  sleep 0.5
  cpu1=$(cpu_seconds $pid)
  kill -TERM $pid
  wait $pid
  after=$(access_count)
  echo "xrayfile $rps $(sed -n 's/.* kernel_drops=\([0-9]*\).*/\1/p' xray.err) $((after - before)) $(wc -l <live.jsonl) $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')" >>"$RESULTS"
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
