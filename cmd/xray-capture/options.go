package main

import (
	"errors"
	"fmt"
	"io"
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
	Ports           []uint16
	ServiceName     string
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
	Workers   int
	Print     bool
	Summary   bool
	LogLevel  string
	LogFormat string

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

	Stdout, Stderr io.Writer

	// As given, before validate parses them into Ports, DaemonAddress,
	// Plugins and Pairing.
	portValues               []string
	daemon, plugins, pairing string
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
	if o.Ports, err = parsePorts(o.portValues); err != nil {
		bad(err)
	}
	if o.ServiceName == "" {
		bad(errors.New("a service name is required: --service-name NAME or AWS_XRAY_TRACING_NAME"))
	} else if _, err := naming.NewFixed(o.ServiceName); err != nil {
		bad(fmt.Errorf("--service-name %q: %w", o.ServiceName, err))
	}
	if o.daemon == "off" {
		// Replaying a capture into a file needs no daemon.
		if o.Output == "" && !o.Print && !o.Summary {
			bad(errors.New("--daemon-address off: give --output, --print or --summary, or the segments go nowhere"))
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
	if ringOK && workersOK {
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

// parsePorts accepts "80", "80,8080" and repeated flags.
func parsePorts(vals []string) ([]uint16, error) {
	if len(vals) == 0 {
		return nil, errors.New("at least one --port is required")
	}
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
