package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xray-capture/xray-capture/awsmeta"
	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/segmenter"
)

// connectionBytes is what one tracked connection costs, about: its state,
// two parsers, two streams and a few pending requests.
const connectionBytes = 2 << 10

// Options holds what the flags and the environment say.
type Options struct {
	Read            string
	Ports           []uint16 // --port and the ports --service names
	ServiceName     string   // the default name
	Services        []naming.Service
	DynamicNaming   string
	DaemonAddress   emitter.DaemonAddress
	Output          string
	ResponseTimeout time.Duration
	IdleTimeout     time.Duration
	MaxConnections  int
	MaxPending      int
	ReassemblyMB    int
	HeaderBufferMB  int
	MaxMemoryMB     int
	Pairing         segmenter.PairingMode

	// Live capture.
	Interface string
	Engine    string
	Ring      capture.RingConfig
	RingMB    int
	// For developers measuring the ring (hidden flags): one block's size
	// and how long the kernel may hold a block that is not full.
	RingBlockKB      int
	RingBlockTimeout time.Duration
	Workers          int
	Print            bool
	Summary          bool
	LogLevel         string
	LogFormat        string

	// OTLP export: OTLP is nil when off.
	OTLP           *emitter.OTLPConfig
	OTLPBatchSize  int
	OTLPBatchDelay time.Duration
	OTLPQueueSize  int
	Region         string // AWS_REGION, for the OTLP resource

	// Kubernetes pods by name.
	Kubernetes  string // auto, on, off
	NodeName    string
	ClusterName string
	Kubeconfig  string

	// Operations.
	MetricsAddress string
	StatsInterval  time.Duration

	// Sampling.
	Sampling      bool
	SamplingRules string
	Centralized   string // auto, on, off
	samplingSet   bool   // --sampling given explicitly

	// AWS plugins.
	Plugins       []string
	EC2Endpoint   string
	BeanstalkConf string

	// For tests: fixed seeds make output reproducible.
	IDSeed       uint64
	SamplingSeed uint64

	// For developers: a CPU profile of the run goes to this file.
	CPUProfile string

	Stdout, Stderr io.Writer

	// As given, before validate parses them into Ports, Services,
	// DaemonAddress, Plugins and Pairing.
	portValues, serviceValues []string
	daemon, plugins, pairing  string
	otlpEndpoint              string
	otlpSigV4                 bool
	otlpRegion                string
	otelEnv                   func(string) string // the OTEL_* variables; nil reads none
	// --max-connections given: the memory ceiling does not cap it.
	maxConnectionsSet bool
}

// validate checks every option and fills in those that derive from others:
// the ports, the daemon address and the plugins parsed, the shares of
// --max-memory-mb, each worker's ring. It reports every bad option at
// once, one line each; a check that needs an option already found bad is
// skipped, so that one mistake is reported once.
func (o *Options) validate() error {
	var errs []error
	bad := func(err error) { errs = append(errs, err) }
	var err error
	portsOK := true
	if o.Ports, err = parsePorts(o.portValues); err != nil {
		bad(err)
		portsOK = false
	}
	var serviceErrs []error
	o.Services, serviceErrs = parseServices(o.serviceValues)
	errs = append(errs, serviceErrs...)
	// The ports --service names are traced too.
	for _, s := range o.Services {
		if s.Port != 0 && !slices.Contains(o.Ports, s.Port) {
			o.Ports = append(o.Ports, s.Port)
		}
	}
	if len(o.Ports) == 0 && portsOK && len(serviceErrs) == 0 {
		bad(errors.New("at least one --port is required (or a --service that names a port)"))
	}
	// The default name names what no --service does: it is needed unless
	// every traced port has a --service of its own.
	if o.ServiceName == "" {
		switch unnamed := portsWithoutService(o.Ports, o.Services); {
		case len(o.serviceValues) == 0:
			bad(errors.New("a service name is required: --service-name NAME or AWS_XRAY_TRACING_NAME"))
		case !portsOK || len(serviceErrs) > 0:
			// Judged once the ports and services are right.
		case len(unnamed) > 0:
			bad(fmt.Errorf("a service name is required for the requests to port %s that no --service names: --service-name NAME or AWS_XRAY_TRACING_NAME", portList(unnamed)))
		}
	} else if _, err := naming.NewFixed(o.ServiceName); err != nil {
		bad(fmt.Errorf("--service-name %q: %w", o.ServiceName, err))
	}
	var otlpErrs []error
	o.OTLP, otlpErrs = o.otlpConfig()
	errs = append(errs, otlpErrs...)

	switch o.Kubernetes {
	case "auto", "on", "off":
	default:
		bad(fmt.Errorf("--kubernetes %q: want auto, on or off", o.Kubernetes))
	}
	if o.daemon == "off" {
		// Replaying a capture into a file needs no daemon.
		if o.Output == "" && !o.Print && !o.Summary && o.OTLP == nil && len(otlpErrs) == 0 {
			bad(errors.New("--daemon-address off: give --otlp-endpoint, --output, --print or --summary, or the segments go nowhere"))
		}
		if o.Centralized == "on" {
			bad(errors.New("--daemon-address off: centralized sampling needs the daemon"))
		}
		o.DaemonAddress = emitter.DaemonAddress{}
	} else if o.DaemonAddress, err = emitter.ParseDaemonAddress(o.daemon); err != nil {
		bad(err)
	}
	if o.ResponseTimeout <= 0 || o.IdleTimeout <= 0 {
		bad(errors.New("--response-timeout and --idle-timeout must be positive"))
	} else if o.IdleTimeout < o.ResponseTimeout {
		// A connection forgotten while a request on it may still be
		// answered in time would lose that answer.
		bad(fmt.Errorf("--idle-timeout %v: want at least --response-timeout (%v)", o.IdleTimeout, o.ResponseTimeout))
	}
	memoryOK := o.MaxMemoryMB >= 16
	if !memoryOK {
		bad(fmt.Errorf("--max-memory-mb %d: want at least 16", o.MaxMemoryMB))
	} else {
		quarter := o.MaxMemoryMB / 4
		if o.ReassemblyMB == 0 {
			o.ReassemblyMB = quarter
		}
		if o.HeaderBufferMB == 0 {
			o.HeaderBufferMB = quarter
		}
		if !o.maxConnectionsSet {
			o.MaxConnections = min(o.MaxConnections, quarter<<20/connectionBytes)
		}
	}
	if o.MaxConnections <= 0 || o.MaxPending <= 0 || o.ReassemblyMB < 0 || o.HeaderBufferMB < 0 {
		bad(errors.New("--max-connections, --max-pending, --max-reassembly-mb and --max-header-buffer-mb must be positive"))
	}
	if o.Pairing, err = segmenter.ParsePairingMode(o.pairing); err != nil {
		bad(fmt.Errorf("--pairing %q: want resync or strict", o.pairing))
	}
	switch o.Engine {
	case "auto", "ebpf", "cbpf", "pcap":
	default:
		bad(fmt.Errorf("--engine %q: want auto, ebpf, cbpf or pcap", o.Engine))
	}
	pageKB := os.Getpagesize() >> 10
	blockOK := o.RingBlockKB >= pageKB && o.RingBlockKB <= 64<<10 && o.RingBlockKB%pageKB == 0
	if !blockOK {
		bad(fmt.Errorf("--ring-block-kb %d: want a multiple of the page size (%d KiB), up to 65536", o.RingBlockKB, pageKB))
	}
	if o.RingBlockTimeout < time.Millisecond || o.RingBlockTimeout > time.Second {
		bad(fmt.Errorf("--ring-block-timeout %v: want 1ms to 1s", o.RingBlockTimeout))
	}
	ringOK := o.RingMB >= 1 && o.RingMB <= 4096
	if !ringOK {
		bad(fmt.Errorf("--ring-size-mb %d: want 1 to 4096", o.RingMB))
	}
	if o.Read == "" && memoryOK && ringOK && o.MaxMemoryMB < o.RingMB+16 {
		bad(fmt.Errorf("--max-memory-mb %d: the ring takes %d MiB of it (--ring-size-mb); want at least %d", o.MaxMemoryMB, o.RingMB, o.RingMB+16))
	}
	workersOK := o.Workers >= 1 && o.Workers <= 64
	if !workersOK {
		bad(fmt.Errorf("--workers %d: want 1 to 64", o.Workers))
	}
	if o.Workers > 1 && o.Read != "" {
		bad(errors.New("--workers: a replay runs one pipeline; it applies to live capture"))
	}
	if o.Workers > 1 && o.Engine == "pcap" {
		bad(errors.New("--workers needs the ebpf or cbpf engine, not pcap"))
	}
	o.Ring = capture.DefaultRing
	o.Ring.BlockSize, o.Ring.BlockTimeout = o.RingBlockKB<<10, o.RingBlockTimeout
	if ringOK && blockOK && workersOK {
		// The ring memory is shared out: each worker has its own ring.
		o.Ring.Blocks = o.RingMB * (1 << 20) / o.Ring.BlockSize / o.Workers
		if minMB := 4 * o.Ring.BlockSize * o.Workers >> 20; o.Ring.Blocks < 4 {
			bad(fmt.Errorf("--ring-size-mb %d is too small for %d workers: want at least %d", o.RingMB, o.Workers, minMB))
		}
	}
	switch o.Centralized {
	case "auto", "on", "off":
	default:
		bad(fmt.Errorf("--centralized-sampling %q: want auto, on or off", o.Centralized))
	}
	if o.Plugins, err = awsmeta.ParsePlugins(o.plugins); err != nil {
		bad(err)
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		bad(fmt.Errorf("--log-format %q: want text or json", o.LogFormat))
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad(fmt.Errorf("--log-level %q: want debug, info, warn or error", o.LogLevel))
	}
	return errors.Join(errs...)
}

// parseServices reads each --service SPEC=NAME; a bad one, and one whose
// spec was given before, is an error of its own.
func parseServices(vals []string) ([]naming.Service, []error) {
	var list []naming.Service
	var errs []error
	bySpec := map[string]naming.Service{}
	for _, v := range vals {
		s, err := naming.ParseService(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--service %q: %w", v, err))
			continue
		}
		if prev, ok := bySpec[s.Spec()]; ok {
			if prev.Name == s.Name {
				errs = append(errs, fmt.Errorf("--service %q: %s is given twice", v, s.Spec()))
			} else {
				errs = append(errs, fmt.Errorf("--service %q: %s is already named %s", v, s.Spec(), prev.Name))
			}
			continue
		}
		bySpec[s.Spec()] = s
		list = append(list, s)
	}
	return list, errs
}

// portsWithoutService lists the ports whose requests can fall to the
// default name: those without a port-only service.
func portsWithoutService(ports []uint16, services []naming.Service) []uint16 {
	var out []uint16
	for _, p := range ports {
		if !slices.ContainsFunc(services, func(s naming.Service) bool { return !s.Prefix.IsValid() && s.Port == p }) {
			out = append(out, p)
		}
	}
	return out
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// parsePorts accepts "80", "80,8080" and repeated flags; none is not an
// error here, since --service may name the ports.
func parsePorts(vals []string) ([]uint16, error) {
	var ports []uint16
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("--port %q: want a number from 1 to 65535", s)
			}
			ports = append(ports, uint16(n))
		}
	}
	return ports, nil
}

// otlpConfig reads --otlp-endpoint and the OpenTelemetry variables
// (docs/otlp.md, Configuration); nil when no endpoint is given.
func (o *Options) otlpConfig() (*emitter.OTLPConfig, []error) {
	env := o.otelEnv
	if env == nil {
		env = func(string) string { return "" }
	}
	var errs []error
	endpoint, what := o.otlpEndpoint, "--otlp-endpoint"
	appendPath := true
	switch {
	case endpoint != "":
	case env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		// The signal's own variable is the full URL, used as is.
		endpoint, what, appendPath = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", false
	case env("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
		endpoint, what = env("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_EXPORTER_OTLP_ENDPOINT"
	default:
		return nil, nil
	}
	// The protocol: the traces variable, else the generic one, else
	// http/protobuf; a grpc:// endpoint is gRPC (in plain text) whatever
	// the variables say, unless they say otherwise explicitly.
	protocol, protoVar := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if protocol == "" {
		protocol, protoVar = env("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return nil, []error{fmt.Errorf("%s %q: %w", what, endpoint, err)}
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "grpc" || u.Host == "":
		return nil, []error{fmt.Errorf("%s %q: want an http:// or https:// URL, e.g. http://127.0.0.1:4318, or grpc://127.0.0.1:4317", what, endpoint)}
	}
	grpc := u.Scheme == "grpc"
	switch protocol {
	case "":
	case "grpc":
		grpc = true
	case "http/protobuf":
		if grpc {
			return nil, []error{fmt.Errorf("%s %q: a gRPC endpoint, but %s is %s", what, endpoint, protoVar, protocol)}
		}
	default:
		return nil, []error{fmt.Errorf("%s %q: want grpc or http/protobuf (http/json is not supported)", protoVar, protocol)}
	}
	if appendPath && !grpc {
		// As the specification says for the generic variable: the
		// signal's path is appended to the base URL's. gRPC has no path.
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	// X-Ray's own endpoint wants SigV4, over HTTP only.
	hostRegion, xrayHost := xrayOTLPRegion(u.Hostname())
	sigv4 := o.otlpSigV4 || xrayHost
	if sigv4 && grpc {
		return nil, []error{fmt.Errorf("%s %q: SigV4 signing (X-Ray's OTLP endpoint) is over HTTP only, not gRPC", what, endpoint)}
	}
	cfg := &emitter.OTLPConfig{URL: u.String(), GRPC: grpc, BatchSize: o.OTLPBatchSize, Delay: o.OTLPBatchDelay, QueueSpans: o.OTLPQueueSize,
		SDKVersion: version, Headers: http.Header{}}
	if o.OTLPBatchSize < 1 || o.OTLPQueueSize < o.OTLPBatchSize {
		errs = append(errs, fmt.Errorf("--otlp-batch-size %d, --otlp-queue-size %d: want a batch of at least 1 and a queue of at least a batch", o.OTLPBatchSize, o.OTLPQueueSize))
	}
	if o.OTLPBatchDelay <= 0 {
		errs = append(errs, fmt.Errorf("--otlp-batch-delay %v: want a positive duration", o.OTLPBatchDelay))
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		kv, err := emitter.ParseKeyValues(name, env(name))
		if err != nil {
			errs = append(errs, err)
		}
		for _, h := range kv {
			cfg.Headers.Set(h.Key, h.Value) // the traces variable, later, wins
		}
	}
	if cfg.Resource, err = emitter.ParseKeyValues("OTEL_RESOURCE_ATTRIBUTES", env("OTEL_RESOURCE_ATTRIBUTES")); err != nil {
		errs = append(errs, err)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"} {
		switch v := env(name); v {
		case "":
		case "gzip", "none":
			cfg.NoGzip = v == "none" // the traces variable, later, wins
		default:
			errs = append(errs, fmt.Errorf("%s %q: want gzip or none", name, v))
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"} {
		if v := env(name); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				errs = append(errs, fmt.Errorf("%s %q: want milliseconds", name, v))
				continue
			}
			cfg.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	o.Region = env("AWS_REGION")
	if o.Region == "" {
		o.Region = env("AWS_DEFAULT_REGION")
	}
	if sigv4 {
		region := o.otlpRegion
		if region == "" {
			region = hostRegion
		}
		if region == "" {
			region = o.Region
		}
		if cfg.Sign, err = newSigV4(context.Background(), region); err != nil {
			errs = append(errs, err)
		}
	} else if o.otlpRegion != "" {
		errs = append(errs, errors.New("--otlp-region: only with SigV4 (--otlp-sigv4, or an xray.REGION.amazonaws.com endpoint)"))
	}
	return cfg, errs
}
