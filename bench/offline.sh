#!/usr/bin/env bash
# Offline benchmark (issue 7): replays the standard captures with
# xray-capture and with tshark in the same run, and prints for each the
# transactions per CPU-second (user + system time of the whole process),
# peak RSS, and whether every transaction of nginx's access log was found.
# xray-capture runs twice: segments to a JSON-lines file with the daemon
# off (what tshark does: extract to a file), and segments sent to a UDP
# listener as to a daemon; each three times, keeping the median.
# Last, the offline floor (issue 21): tcpdump's CPU to read the same file
# and write every packet to /dev/null over xray-capture's to read it and
# write every segment to /dev/null, daemon off (and, beside it, to a
# file); higher is better, the target is 0.6.
# Usage: bench/offline.sh   (after bench/make-capture.sh; as root)
source "$(dirname "$0")/lib.sh"
need_root
install_packages
build
cd "$BENCH_DIR"
for c in lo veth; do
  [ -f $c.pcap ] || { echo "$0: $BENCH_DIR/$c.pcap is missing: run bench/make-capture.sh first" >&2; exit 1; }
done

# measure NAME CMD... runs CMD under /usr/bin/time, its output to NAME.out
# and NAME.err, and sets CPU (user + system seconds) and RSS (peak, MiB).
# FRESH=FILE removes FILE first: a run that overwrites the last run's
# output pays for the file system's freeing its blocks (truncate, and
# ext4's flush on close of a truncated file), which is not the replay's.
# CPU comes from wait4's rusage to the microsecond (benchtool cpu): GNU
# time's hundredths of a second are a sixth of tcpdump's read of veth.pcap.
measure() {
  local name=$1
  shift
  [ -z "${FRESH:-}" ] || rm -f "$FRESH"
  "$BIN/benchtool" cpu -o "$name.time" -- "$@" >"$name.out" 2>"$name.err"
  read -r CPU RSS <"$name.time"
}

# measure3 is measure run three times, keeping the run of median CPU: a
# replay takes about a second, short enough for a neighbour's burst on
# this shared machine to show.
measure3() {
  local runs=()
  for i in 1 2 3; do
    measure "$@"
    runs+=("$CPU $RSS")
  done
  read -r CPU RSS < <(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
}

# floor C prints capture C's offline floor (issue 21): tcpdump reading it
# and writing every packet to /dev/null, over a replay with the daemon off
# writing every segment to /dev/null (the same work: read all, make all,
# keep nothing), and over one writing them to a file. Seven rounds, each
# running the three in turn; the ratio within each round, then the median
# of the seven: this machine's speed drifts between runs by more than a
# quarter, alike for commands run back to back.
floor() {
  local c=$1 r t x f
  : >$c.floor.txt
  for r in 1 2 3 4 5 6 7; do
    measure $c.floor-tcpdump tcpdump -r $c.pcap -w /dev/null
    t=$CPU
    measure $c.floor-null "$BIN/xray-capture" -r $c.pcap -p $PORT --service-name bench --daemon-address off --output /dev/null
    x=$CPU
    FRESH=$c.floor.jsonl measure $c.floor-file "$BIN/xray-capture" -r $c.pcap -p $PORT --service-name bench \
      --daemon-address off --output $c.floor.jsonl
    f=$CPU
    echo "$t $x $f" >>$c.floor.txt
  done
  awk -v c=$c '{t[NR] = $1; x[NR] = $2; f[NR] = $3; rn[NR] = $1 / $2; rf[NR] = $1 / $3}
    function median(a, n,   i, j, v) {
      for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
      return a[int((n + 1) / 2)]
    }
    END {
      printf "%s: tcpdump -r F -w /dev/null over xray-capture --daemon-address off --output /dev/null: %.2f (target >= 0.6); over --output FILE: %.2f. Medians of %d rounds; CPU s tcpdump %.3f, xray-capture %.3f to /dev/null, %.3f to a file\n",
        c, median(rn, NR), median(rf, NR), NR, median(t, NR), median(x, NR), median(f, NR)
    }' $c.floor.txt
}

floors=()
printf '| capture | tool | transactions found | CPU s | transactions per CPU-s | peak RSS MiB |\n|---|---|---|---|---|---|\n'
for c in lo veth; do
  n=$(wc -l <$c.access.log)
  "$BIN/benchtool" listen -addr 127.0.0.1:39001 -out $c.listen.json &
  listener=$!
  sleep 0.2
  FRESH=$c.xray.jsonl measure3 $c.xray-file "$BIN/xray-capture" -r $c.pcap -p $PORT --service-name bench \
    --daemon-address off --output $c.xray.jsonl
  file_cpu=$CPU file_rss=$RSS
  measure3 $c.xray-udp "$BIN/xray-capture" -r $c.pcap -p $PORT --service-name bench --daemon-address 127.0.0.1:39001
  udp_cpu=$CPU udp_rss=$RSS
  kill -INT $listener
  wait $listener
  measure $c.tshark tshark -r $c.pcap -n -Y http -T fields -E separator=/t \
    -e frame.number -e http.request.method -e http.request.uri -e http.x_forwarded_for -e ip.src \
    -e http.response.code -e http.request_in
  ts_cpu=$CPU ts_rss=$RSS
  "$BIN/benchtool" compare -log $c.access.log -xray $c.xray.jsonl -tshark $c.tshark.out >$c.compare.txt ||
    { cat $c.compare.txt >&2; exit 1; }
  xray_found=$(awk '/^xray-capture:/ {print $2 - $4}' $c.compare.txt)
  ts_found=$(awk '/^tshark:/ {print $2 - $4}' $c.compare.txt)
  # The listener counted the datagrams of all three replays.
  udp_got=$(sed 's/.*"datagrams":\([0-9]*\).*/\1/' $c.listen.json)
  row() { awk -v c="$1" -v t="$2" -v f="$3" -v of="$4" -v n="$n" -v s="$5" -v m="$6" \
    'BEGIN {printf "| %s | %s | %d of %d | %.2f | %.0f | %.0f |\n", c, t, f, of, s, n / s, m}'; }
  row $c "xray-capture, to a file" "$xray_found" "$n" "$file_cpu" "$file_rss"
  row $c "xray-capture, to a UDP daemon (datagrams received in 3 runs)" "$udp_got" $((3 * n)) "$udp_cpu" "$udp_rss"
  row $c "tshark" "$ts_found" "$n" "$ts_cpu" "$ts_rss"
  awk -v c=$c -v a="$file_cpu" -v b="$udp_cpu" -v t="$ts_cpu" \
    'BEGIN {printf "| %s | ratio to tshark | | | %.0fx to a file, %.0fx to the daemon | |\n", c, t / a, t / b}'
  floors+=("$(floor $c)")
done
echo
printf '%s\n' "${floors[@]}"
