BPF2GO_CC ?= clang-19
BPF2GO_STRIP ?= llvm-strip-19
# The version the binary reports (xray-capture version, and the segments'
# aws.xray.sdk_version); a release sets it: make image VERSION=1.2.3.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)

.PHONY: generate test test-otelcol captures build image install

# Regenerates bpf/filter_bpf{el,eb}.{go,o} from bpf/socket_filter.c.
generate:
	BPF2GO_CC=$(BPF2GO_CC) BPF2GO_STRIP=$(BPF2GO_STRIP) go generate ./bpf/

# The README's test command (root: it installs packages and runs the
# privileged tests).
test:
	bash test/setup.sh && XRAY_CAPTURE_PRIVILEGED=1 go test -race -count=1 -p 1 ./...

# The OTLP export against the OpenTelemetry Collector's own OTLP receiver
# (HTTP and gRPC): a module of its own, so that the collector's
# dependencies stay out of go.mod.
test-otelcol:
	cd test/otelcol && go test -count=1 ./...

# Remakes testdata/captures (root, tcpdump, nginx, curl).
captures:
	bash test/make-captures.sh
	bash test/make-encap-captures.sh
	go test ./cmd/xray-capture -run TestGolden -update

# A static binary (no cgo: it can drop its capabilities), version stamped.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o xray-capture ./cmd/xray-capture

# The container image, version stamped.
image:
	docker build --build-arg VERSION=$(VERSION) -t xray-capture:$(VERSION) .

# The systemd service (root): the binary, the unit, and the example
# configuration unless one is there already; then edit
# /etc/xray-capture/config.yaml and systemctl enable --now xray-capture.
install: build
	install -D -m 0755 xray-capture $(DESTDIR)/usr/local/bin/xray-capture
	install -D -m 0644 deploy/systemd/xray-capture.service $(DESTDIR)/etc/systemd/system/xray-capture.service
	test -e $(DESTDIR)/etc/xray-capture/config.yaml || \
		install -D -m 0644 deploy/systemd/config.yaml $(DESTDIR)/etc/xray-capture/config.yaml
	if [ -z "$(DESTDIR)" ]; then systemctl daemon-reload; fi
