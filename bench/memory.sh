#!/usr/bin/env bash
# Memory benchmark (issue 7): xray-capture's resident set while it tracks
# 10,000 idle keep-alive connections to nginx (each made one request and
# stays open), read from /proc after the connections are up.
# Usage: bench/memory.sh [connections, default 10000]
source "$(dirname "$0")/lib.sh"
need_root
CONNS=${1:-10000}
install_packages
build
netns_up
trap netns_down EXIT
cd "$BENCH_DIR"
nginx_start $NS_LO "127.0.0.1:$PORT" nginx-memory
ip netns exec $NS_LO "$BIN/benchtool" listen -addr 127.0.0.1:2000 -out memory.listen.json &
listener=$!
ip netns exec $NS_LO "$BIN/xray-capture" --port $PORT --service-name bench --sampling=false \
  --daemon-address 127.0.0.1:2000 --centralized-sampling off --metrics-address 127.0.0.1:9100 2>memory.xray.err &
pid=$!
for _ in $(seq 100); do grep -q capturing memory.xray.err && break; sleep 0.05; done
rss_kib() { awk -v k="$1" '$1 == k":" {print $2}' /proc/$pid/status; }
echo "agent started: RSS $(($(rss_kib VmRSS) / 1024)) MiB"
ulimit -n $((CONNS + 1000))
ip netns exec $NS_LO "$BIN/benchtool" idle -addr 127.0.0.1:$PORT -n "$CONNS" -hold 8s &
idle=$!
sleep 6
tracked=$(ip netns exec $NS_LO bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
  awk '$1 == "xray_capture_connections_open" {print $2}')
rss=$(rss_kib VmRSS)
hwm=$(rss_kib VmHWM)
wait $idle
kill -TERM $pid
wait $pid
kill -INT $listener
wait $listener
nginx_stop
echo "connections tracked: $tracked (of $CONNS opened)"
echo "RSS with them tracked: $((rss / 1024)) MiB; peak RSS: $((hwm / 1024)) MiB"
tail -1 memory.xray.err
