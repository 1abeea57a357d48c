#!/usr/bin/env bash
# Copies the libbpf helper headers the socket filter includes from Debian's
# libbpf-dev, so that the build does not depend on what a machine has
# installed. Pinned version: see VERSION.
set -euo pipefail
cd "$(dirname "$0")"
src=/usr/include/bpf
[ -f "$src/bpf_helpers.h" ] || { echo "install libbpf-dev first" >&2; exit 1; }
cp "$src/bpf_helpers.h" "$src/bpf_helper_defs.h" "$src/bpf_endian.h" .
dpkg-query -W -f='libbpf-dev ${Version}\n' libbpf-dev > VERSION
