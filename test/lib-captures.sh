# Sourced by test/make-captures.sh and test/make-encap-captures.sh: what
# both need to make captures between two network namespaces.

# require SCRIPT PACKAGES TOOL... exits unless every TOOL is installed,
# naming the Debian PACKAGES that bring them.
require() {
  local script=$1 packages=$2 tool
  shift 2
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: $tool is required (apt-get install -y $packages)" >&2; exit 1; }
  done
}

# namespaces SRV CLI names the server's and the client's namespaces (srv,
# cli), deletes any left by an earlier run, and makes tmp, a scratch
# directory; at exit the processes in pids are killed and the namespaces
# and tmp go.
namespaces() {
  srv=$1 cli=$2
  tmp=$(mktemp -d)
  pids=()
  trap cleanup EXIT
  cleanup_ns
}
cleanup_ns() { ip netns del "$srv" 2>/dev/null || true; ip netns del "$cli" 2>/dev/null || true; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cleanup_ns
  rm -rf "$tmp"
}
