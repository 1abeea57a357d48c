#!/usr/bin/env bash
# Makes the standard captures of the benchmarks (issue 7), as root:
#   $BENCH_DIR/lo.pcap    nginx and wrk on one namespace's loopback
#   $BENCH_DIR/veth.pcap  the same traffic across a veth pair, MTU 1500, no offloads
# each with nginx's access log (lo.access.log, veth.access.log) as the
# ground truth. The mix is bench/mix.lua: small JSON, 4 KB, 64 KB, chunked,
# 404 and 500 responses, some requests behind a proxy. wrk keeps its 32
# connections alive. tcpdump must report no kernel drop.
# Usage: bench/make-capture.sh [seconds of traffic, default 10]
source "$(dirname "$0")/lib.sh"
need_root
SECONDS_OF_TRAFFIC=${1:-10}
install_packages
netns_up
trap netns_down EXIT

# capture NAME NS_CAPTURE IFACE NS_CLIENT URL LISTEN
capture() {
  local name=$1 capns=$2 iface=$3 clins=$4 url=$5 listen=$6
  nginx_start "$capns" "$listen" "nginx-$name"
  # A 256 MiB capture buffer: a burst never outruns tcpdump's writes.
  ip netns exec "$capns" tcpdump -i "$iface" -s 0 -B 262144 -n -w "$BENCH_DIR/$name.pcap" "tcp port $PORT" \
    2>"$BENCH_DIR/$name.tcpdump.err" &
  local tcpdump=$!
  sleep 1
  local rps
  rps=$(wrk_run "$clins" "$url" "$SECONDS_OF_TRAFFIC")
  # libpcap hands over a ring block when it fills or after its timeout;
  # what is still in the ring when tcpdump stops is lost without a count.
  # On a loaded machine tcpdump may also lag in writing: wait until the
  # file has stopped growing for a second (at most 20 s).
  sleep 2
  local size=-1
  for _ in $(seq 20); do
    [ "$(stat -c %s "$BENCH_DIR/$name.pcap")" = "$size" ] && break
    size=$(stat -c %s "$BENCH_DIR/$name.pcap")
    sleep 1
  done
  kill -INT $tcpdump
  wait $tcpdump || true
  nginx_stop
  cp "$NGINX_DIR/access.log" "$BENCH_DIR/$name.access.log"
  local drops
  drops=$(awk '/dropped by kernel/ {print $1}' "$BENCH_DIR/$name.tcpdump.err")
  if [ "${drops:-missing}" != 0 ]; then
    echo "$name: tcpdump reports '${drops:-nothing}' packets dropped by kernel:" >&2
    cat "$BENCH_DIR/$name.tcpdump.err" >&2
    exit 1
  fi
  printf '%s: %s transactions at %s requests/s, %s, %s packets, kernel drops 0\n' "$name" \
    "$(wc -l <"$BENCH_DIR/$name.access.log")" "$rps" "$(du -h "$BENCH_DIR/$name.pcap" | cut -f1)" \
    "$(awk '/packets captured/ {print $1}' "$BENCH_DIR/$name.tcpdump.err")"
}

capture lo $NS_LO lo $NS_LO "http://127.0.0.1:$PORT" "127.0.0.1:$PORT"
capture veth $NS_SRV xcb0 $NS_CLI "http://$SRV_IP:$PORT" "$SRV_IP:$PORT"
