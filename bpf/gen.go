package bpf

// The generated filter_bpf{el,eb}.{go,o} are committed, so that go build
// needs no clang for any GOARCH. Regenerate with Debian's clang-19 (make
// generate does it). -nostdinc: headers/ has all the C needs, so the objects
// do not depend on the build host's headers.
//
//go:generate go tool bpf2go -tags linux -target bpfel,bpfeb -output-stem filter filter socket_filter.c -- -I./headers -nostdinc -O2 -g -Wall -Werror
