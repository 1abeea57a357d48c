#!/usr/bin/env bash
# What tracing costs the app (issue 21): a trivial Flask app (waitress) and
# a trivial Express app, each measured under wrk alone, with the official
# X-Ray SDK middleware in the app (its default sampling), and beside live
# xray-capture with default sampling and with --sampling=false (every
# request sent). Segments go to a counting UDP listener in every traced
# mode. Rounds rotate the order of the modes; the report gives each mode's
# median requests/s as a share of the app alone (same round), the spread
# (min-max of that share), and wrk's p50/p99 latency.
# Usage: bench/sdk.sh [rounds, default 5] [seconds per run, default 5]
source "$(dirname "$0")/lib.sh"
need_root
ROUNDS=${1:-5}
SECS=${2:-5}
install_packages
command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
[ -d "$REPO/conformance/node_modules/aws-xray-sdk-express" ] || (cd "$REPO/conformance" && npm ci --no-audit --no-fund >/dev/null)
python3 -c 'import flask, aws_xray_sdk' 2>/dev/null ||
  { echo "$0: python3 lacks flask or aws_xray_sdk: run bash test/setup.sh" >&2; exit 1; }
build
netns_up
trap 'netns_down' EXIT
cd "$BENCH_DIR"
URL=http://127.0.0.1:$PORT/
RESULTS=$BENCH_DIR/sdk.tsv
: >"$RESULTS"

# app_start KIND XRAY starts the app in the namespace and waits for it.
app_start() {
  local cmd
  case $1 in
  flask) cmd=(python3 "$REPO/bench/sdk/flask_app.py") ;;
  express) cmd=(node "$REPO/bench/sdk/express_app.js") ;;
  esac
  ip netns exec $NS_LO env PORT=$PORT XRAY="$2" AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 \
    $(pin 1) "${cmd[@]}" >app.out 2>app.err &
  APP=$!
  for _ in $(seq 200); do
    ip netns exec $NS_LO bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$1 did not start: $(cat app.err)" >&2
  return 1
}
app_stop() { kill "$APP"; wait "$APP" 2>/dev/null || true; }

listener_start() {
  rm -f listen.json
  ip netns exec $NS_LO "$BIN/benchtool" listen -addr 127.0.0.1:2000 -out listen.json 2>listen.err &
  LISTENER=$!
  sleep 0.2
}
# listener_stop stops the listener and sets SEGS to the datagrams it got
# (not in a subshell: wait needs the listener to be this shell's child).
listener_stop() {
  kill -INT "$LISTENER"
  wait "$LISTENER" || { echo "the UDP listener failed: $(cat listen.err)" >&2; exit 1; }
  SEGS=$(sed 's/.*"datagrams":\([0-9]*\).*/\1/' listen.json)
}

agent_start() {
  ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench \
    --daemon-address 127.0.0.1:2000 --centralized-sampling off "$@" 2>xray.err &
  AGENT=$!
  for _ in $(seq 100); do grep -q capturing xray.err && break; sleep 0.05; done
  grep -q capturing xray.err || { cat xray.err >&2; exit 1; }
}
agent_stop() { kill -TERM "$AGENT"; wait "$AGENT" || true; }

# measure KIND MODE: one run; appends "KIND MODE ROUND rps p50_ms p99_ms segments".
measure() {
  local kind=$1 mode=$2 xray=0
  SEGS=-
  [ "$mode" = sdk ] && xray=1
  [ "$mode" = alone ] || listener_start
  app_start "$kind" "$xray"
  case $mode in
  capture) agent_start ;;
  capture-all) agent_start --sampling=false ;;
  esac
  ip netns exec $NS_LO $(pin 0) wrk -t2 -c16 -d1s "$URL" >/dev/null # warm up
  ip netns exec $NS_LO $(pin 0) wrk -t2 -c16 -d"$SECS"s --latency "$URL" >wrk.out
  case $mode in capture | capture-all) agent_stop ;; esac
  app_stop
  [ "$mode" = alone ] || listener_stop
  awk -v k="$kind" -v m="$mode" -v r="$ROUND" -v s="$SEGS" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%s %s %s %.1f %.3f %.3f %s\n", k, m, r, rps, p50, p99, s }' wrk.out >>"$RESULTS"
}

modes=(alone sdk capture capture-all)
for kind in flask express; do
  for ROUND in $(seq 1 "$ROUNDS"); do
    for i in 0 1 2 3; do
      measure "$kind" "${modes[$(((ROUND + i) % 4))]}"
    done
  done
done

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "| app | beside the app | requests/s (median) | share of the app alone: median (min-max) | latency p50 / p99 (median) | segments received (last round) |"
echo "|---|---|---|---|---|---|"
for kind in flask express; do
  for mode in alone sdk capture capture-all; do
    label=$(case $mode in alone) echo "nothing (the app alone)" ;; sdk) echo "the official X-Ray SDK middleware, in the app" ;;
      capture) echo "xray-capture, default sampling" ;; capture-all) echo "xray-capture, --sampling=false (every request sent)" ;; esac)
    rps=$(awk -v k=$kind -v m=$mode '$1 == k && $2 == m {print $4}' "$RESULTS" | median)
    shares=$(join <(awk -v k=$kind -v m=$mode '$1 == k && $2 == m {print $3, $4}' "$RESULTS" | sort) \
      <(awk -v k=$kind '$1 == k && $2 == "alone" {print $3, $4}' "$RESULTS" | sort) | awk '{print $2 / $3}')
    share=$(echo "$shares" | median)
    lo=$(echo "$shares" | sort -g | head -1)
    hi=$(echo "$shares" | sort -g | tail -1)
    p50=$(awk -v k=$kind -v m=$mode '$1 == k && $2 == m {print $5}' "$RESULTS" | median)
    p99=$(awk -v k=$kind -v m=$mode '$1 == k && $2 == m {print $6}' "$RESULTS" | median)
    segs=$(awk -v k=$kind -v m=$mode '$1 == k && $2 == m {s = $7} END {print s}' "$RESULTS")
    printf "| %s | %s | %.0f | %.2f (%.2f-%.2f) | %.2f / %.2f ms | %s |\n" "$kind" "$label" "$rps" "$share" "$lo" "$hi" "$p50" "$p99" "$segs"
  done
done
