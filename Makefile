BPF2GO_CC ?= clang-19
BPF2GO_STRIP ?= llvm-strip-19

.PHONY: generate test captures

# Regenerates bpf/filter_bpf{el,eb}.{go,o} from bpf/socket_filter.c.
generate:
	BPF2GO_CC=$(BPF2GO_CC) BPF2GO_STRIP=$(BPF2GO_STRIP) go generate ./bpf/

# The tests, privileged ones included (run as root).
test:
	XRAY_CAPTURE_PRIVILEGED=1 go test -race -count=1 ./...

# Remakes testdata/captures (root, tcpdump, nginx, curl).
captures:
	bash test/make-captures.sh
	bash test/make-encap-captures.sh
	go test ./cmd/xray-capture -run TestGolden -update
