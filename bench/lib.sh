# Shared by the bench/ scripts: the Debian packages, the build, the network
# namespaces and nginx. Source it; it sets -euo pipefail.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/xray-capture-bench}
mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/bin
NS_LO=xcb-lo      # nginx, wrk and the capture on this namespace's loopback
NS_SRV=xcb-srv    # nginx behind a veth pair with MTU 1500 ...
NS_CLI=xcb-cli    # ... and wrk on the other end
SRV_IP=10.203.0.1
CLI_IP=10.203.0.2
PORT=8080

need_root() {
  [ "$(id -u)" = 0 ] || { echo "$0: run as root (network namespaces, capture, apt-get)" >&2; exit 1; }
}

# install_packages installs what the benchmarks run, once per machine.
install_packages() {
  local missing=()
  for c in nginx:nginx-light wrk:wrk tshark:tshark tcpdump:tcpdump ethtool:ethtool ip:iproute2 /usr/bin/time:time; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# build builds xray-capture and benchtool into $BIN.
build() {
  mkdir -p "$BIN"
  # xray-capture as make build and the Dockerfile make it: what is measured
  # is what ships (static, no cgo), but with its symbol table, which is
  # never loaded and lets perf name functions (live.sh PROFILE=1).
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$BIN/xray-capture" ./cmd/xray-capture &&
    go build -o "$BIN/benchtool" ./bench/benchtool)
}

netns_up() {
  netns_down
  ip netns add $NS_LO
  ip -n $NS_LO link set lo up
  ip netns add $NS_SRV
  ip netns add $NS_CLI
  ip -n $NS_SRV link set lo up
  ip -n $NS_CLI link set lo up
  ip link add xcb0 netns $NS_SRV mtu 1500 type veth peer name xcb1 netns $NS_CLI mtu 1500
  ip -n $NS_SRV addr add $SRV_IP/24 dev xcb0
  ip -n $NS_CLI addr add $CLI_IP/24 dev xcb1
  ip -n $NS_SRV link set xcb0 up
  ip -n $NS_CLI link set xcb1 up
  # No segmentation offload: the capture sees the packets a 1500-byte
  # link carries, about 45 for a 64 KB body, not 64 KB super-packets.
  ip netns exec $NS_SRV ethtool -K xcb0 tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec $NS_CLI ethtool -K xcb1 tso off gso off gro off >/dev/null 2>&1 || true
}

netns_down() {
  for ns in $NS_LO $NS_SRV $NS_CLI; do
    ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
  done
}

# nginx_start NS LISTEN NAME starts nginx in NS; its files go to
# $BENCH_DIR/NAME (access.log is the ground truth).
nginx_start() {
  local ns=$1 listen=$2 dir=$BENCH_DIR/$3
  rm -rf "$dir" && mkdir -p "$dir/www/static" "$dir/www/chunked" "$dir/tmp"
  head -c 4096 /dev/urandom >"$dir/www/static/4k.bin"
  head -c 65536 /dev/urandom >"$dir/www/static/64k.bin"
  # Text that gzip shrinks to a few chunks of about 2 KB.
  for i in $(seq 1 400); do echo "line $i: $((i * 7919 % 10007)) the quick brown fox"; done >"$dir/www/chunked/page.txt"
  sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|$listen|g" "$REPO/bench/nginx.conf.in" >"$dir/nginx.conf"
  ip netns exec "$ns" $(pin 1) nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
  NGINX_DIR=$dir
  for _ in $(seq 100); do
    ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/${listen%:*}/${listen#*:}" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nginx did not start: $(cat "$dir/error.log")" >&2
  return 1
}

# nginx_stop stops nginx gracefully, so that its access log is complete.
nginx_stop() {
  local pid
  pid=$(cat "$NGINX_DIR/nginx.pid")
  kill -QUIT "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# access_count is the number of requests nginx has logged so far (it
# flushes its log buffer every second).
access_count() { sleep 1.2; wc -l <"$NGINX_DIR/access.log"; }

# pin CPU prints the command prefix that keeps nginx or wrk on CPU when
# PIN=1 (two CPUs or more), nothing otherwise. Pinned, nginx (CPU 1) and
# wrk (CPU 0) no longer trade places between runs, which moves requests/s
# by 10-20% from one run to the next; the capturer is left to the
# scheduler, the same way in every mode.
pin() { [ "${PIN:-0}" = 1 ] && echo "taskset -c $1" || true; }

# wrk_run NS URL SECONDS runs the mix and prints wrk's requests/s.
wrk_run() {
  ip netns exec "$1" $(pin 0) wrk -t2 -c32 -d"$3"s -s "$REPO/bench/mix.lua" "$2" >"$BENCH_DIR/wrk.out"
  awk '/^Requests\/sec/ {print $2}' "$BENCH_DIR/wrk.out"
}

# cpu_seconds PID is the process's user+system CPU time so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
