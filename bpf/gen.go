package bpf

// The generated filter_bpfel.{go,o} are committed, so that go build needs no
// clang. Regenerate with Debian's clang-19 (make generate does it):
//
//go:generate go tool bpf2go -tags linux -target bpfel -output-stem filter filter socket_filter.c -- -I./headers -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
