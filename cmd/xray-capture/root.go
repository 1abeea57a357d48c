package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/segmenter"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type lookupEnv func(string) (string, bool)

func newRootCmd(stdout, stderr io.Writer, env lookupEnv) *cobra.Command {
	return newRootCmdWith(stdout, stderr, env, run)
}

// newRootCmdWith takes the function that runs the parsed options, so that
// flag tests can stop there.
func newRootCmdWith(stdout, stderr io.Writer, env lookupEnv, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{Stdout: stdout, Stderr: stderr}
	cmd := &cobra.Command{
		Use:   "xray-capture --port PORT --service-name NAME [--service SPEC=NAME]... [--read FILE]",
		Short: "Trace an app's HTTP traffic into AWS X-Ray segments, without touching the app",
		Long: `xray-capture watches the HTTP/1.x traffic of an app port, pairs each response
with its request and sends one X-Ray segment per request to the X-Ray daemon,
as the X-Ray SDK middleware would, without any code in the app.

Without --read it captures live on the host (root, or CAP_NET_RAW and CAP_BPF)
until SIGINT or SIGTERM; with --read it replays a pcap or pcapng capture file
through the same pipeline.

Options come from flags, then XRAY_CAPTURE_<FLAG> variables (for example
XRAY_CAPTURE_SERVICE_NAME, and the SDKs' AWS_XRAY_DAEMON_ADDRESS), then the
YAML file of --config, then the defaults.

One agent traces several services: --service SPEC=NAME names the requests
to a server port (8080=shop), address (10.0.1.5=shop, 2001:db8::1=shop),
network (10.0.1.0/24=shop) or address or network with a port
(10.0.1.5:8080=shop, [2001:db8::1]:8080=shop). The most specific wins:
address with port, longest network with port, address or network alone,
port alone; --service-name names the rest. The ports named are traced
without --port. XRAY_CAPTURE_SERVICE takes a comma-separated list, the
--config file a mapping ("service: {8080: shop, 10.0.1.0/24: cart}").
AWS_XRAY_TRACING_NAME, as in the X-Ray SDKs, overrides the --service-name
name only, so that per-service names stay apart.`,
		Example: `  # Trace the app on port 8080, live (as root)
  xray-capture --port 8080 --service-name shop --print

  # Replay a capture, print the segments as JSON lines
  xray-capture --read testdata/captures/keepalive.pcap --port 8080 --service-name shop --output -

  # Two apps on one host, each under its own name
  xray-capture --service 8080=shop --service 9090=cart --print

  # Name by the server's address or network; "other" names the rest
  xray-capture --port 80 --service 10.0.1.0/24=shop --service 10.0.2.7=cart --service-name other

  # Name segments after the Host header when it matches a pattern
  xray-capture --read app.pcap --port 80 --service-name shop --dynamic-naming '*.example.com'`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.resolve(cmd.Flags(), env); err != nil {
				return err
			}
			return runF(cmd, opts)
		},
	}
	f := cmd.PersistentFlags()
	f.String("config", "", "YAML file of options (keys are the flag names); flags and XRAY_CAPTURE_* variables win over it")
	f.StringVarP(&opts.Read, "read", "r", "", "replay this pcap or pcapng file (gzipped or not) instead of capturing live")
	f.StringSliceVarP(&opts.portValues, "port", "p", nil, "server port(s) of the app, e.g. 8080 or 80,8080 (repeatable); required unless --service names a port")
	f.StringSliceVar(&opts.serviceValues, "service", nil, "segment name for a server port, address or network, as `SPEC=NAME`: 8080=shop, 10.0.1.0/24=shop, 10.0.1.5:8080=shop, [2001:db8::1]:8080=shop (repeatable or comma-separated); the most specific wins, and its port is traced")
	f.StringVar(&opts.ServiceName, "service-name", "", "default segment name, for requests no --service names (overridden by AWS_XRAY_TRACING_NAME); required unless --service names every port")
	f.StringVar(&opts.DynamicNaming, "dynamic-naming", "", "name segments after the Host header when it matches this pattern (* and ?); others take their --service name, else --service-name")
	f.StringVar(&opts.daemon, "daemon-address", emitter.DefaultDaemonAddress, "X-Ray daemon, host:port or \"tcp:host:port udp:host:port\" (the TCP one serves sampling rules), or off (segments only to --output, --print or --summary)")
	f.StringVar(&opts.otlpEndpoint, "otlp-endpoint", "", "also export spans over OTLP/HTTP (protobuf) to this base URL, e.g. http://127.0.0.1:4318 (/v1/traces is appended), or over OTLP/gRPC to grpc://127.0.0.1:4317 (or any URL with OTEL_EXPORTER_OTLP_PROTOCOL=grpc); default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is), else OTEL_EXPORTER_OTLP_ENDPOINT")
	f.BoolVar(&opts.otlpSigV4, "otlp-sigv4", false, "sign OTLP/HTTP requests with AWS SigV4 for X-Ray (credentials from the AWS SDK's default chain); on by itself for an https://xray.REGION.amazonaws.com endpoint")
	f.StringVar(&opts.otlpRegion, "otlp-region", "", "the region SigV4 signs for (default: the endpoint's, else AWS_REGION, else the instance's)")
	f.IntVar(&opts.OTLPBatchSize, "otlp-batch-size", emitter.DefaultOTLPBatchSize, "spans per OTLP request, at most")
	f.DurationVar(&opts.OTLPBatchDelay, "otlp-batch-delay", emitter.DefaultOTLPBatchDelay, "the longest a span waits for its OTLP request to fill")
	f.IntVar(&opts.OTLPQueueSize, "otlp-queue-size", emitter.DefaultOTLPQueueSpans, "spans waiting for the OTLP receiver, at most; beyond, they are dropped and counted (reason queue_full)")
	f.StringVarP(&opts.Output, "output", "o", "", "also write segments as JSON lines to this file (- for stdout); live, appended to and reopened on SIGHUP")
	f.DurationVar(&opts.ResponseTimeout, "response-timeout", segmenter.DefaultResponseTimeout, "a request unanswered this long is sent as a timeout")
	f.DurationVar(&opts.IdleTimeout, "idle-timeout", segmenter.DefaultIdleTimeout, "forget a connection silent this long (at least the response timeout)")
	f.IntVar(&opts.MaxConnections, "max-connections", segmenter.DefaultMaxConnections, "connections tracked at once (capped by a quarter of --max-memory-mb at about 2 KiB each: 32,768 at the default)")
	f.StringVar(&opts.pairing, "pairing", segmenter.PairingResync.String(), "after a capture loss that destroyed a connection's framing: resync resumes pairing at a proven, confirmed ACK anchor and labels those segments pairing: ack-resync; strict sends only certain pairs")
	f.IntVar(&opts.MaxPending, "max-pending", segmenter.DefaultMaxPending, "requests awaiting a response on one connection")
	f.IntVar(&opts.MaxMemoryMB, "max-memory-mb", 256, "memory ceiling in MiB: a quarter each for reassembly, split header blocks and connections (each about 2 KiB); the ring and the Go heap's soft limit share it")
	f.IntVar(&opts.ReassemblyMB, "max-reassembly-mb", 0, "MiB held for out-of-order TCP segments, all connections together (default: a quarter of --max-memory-mb)")
	f.IntVar(&opts.HeaderBufferMB, "max-header-buffer-mb", 0, "MiB held for header blocks split across packets, all connections together (default: a quarter of --max-memory-mb)")
	f.StringVarP(&opts.Interface, "interface", "i", "", "capture on this interface only (default: all interfaces)")
	f.StringVar(&opts.Engine, "engine", "auto", "packet filter: auto (eBPF, else classic BPF), ebpf, cbpf, or pcap (libpcap builds)")
	f.IntVar(&opts.RingMB, "ring-size-mb", 16, "size of the AF_PACKET ring in MiB (all workers together)")
	f.IntVar(&opts.RingBlockKB, "ring-block-kb", capture.DefaultRing.BlockSize>>10, "size of one ring block in KiB (for developers: bench/live.sh)")
	f.DurationVar(&opts.RingBlockTimeout, "ring-block-timeout", capture.DefaultRing.BlockTimeout, "longest the kernel holds a ring block that is not full (for developers: bench/live.sh)")
	f.IntVar(&opts.Workers, "workers", 1, "live capture pipelines, one per core the agent may use; the kernel hands each connection to one (PACKET_FANOUT), and each has its own ring and share of the memory bounds")
	f.BoolVar(&opts.Print, "print", false, "also print one line per request on stdout, every request seen: those not sampled (not sent) are marked")
	f.BoolVar(&opts.Summary, "summary", false, "print a table per service and route (requests seen, of which sampled, error and fault rates, p50/p90/p99 latency) at the end, and live on SIGUSR1")
	f.StringVar(&opts.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&opts.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&opts.MetricsAddress, "metrics-address", "", "serve Prometheus /metrics and /healthz on this address, e.g. :9100 (default off)")
	f.DurationVar(&opts.StatsInterval, "stats-interval", 5*time.Minute, "log a stats line this often (0: never)")
	f.BoolVar(&opts.Sampling, "sampling", true, "sample as X-Ray does (false: trace every request); a replay traces every request unless this or --sampling-rules is given")
	f.StringVar(&opts.SamplingRules, "sampling-rules", "", "local sampling rules file (X-Ray SDK format, version 1 or 2)")
	f.StringVar(&opts.Centralized, "centralized-sampling", "auto", "use the X-Ray service's rules through the daemon: auto (live, whenever the daemon's TCP address answers, asked again every few seconds until it does), on, off")
	f.StringVar(&opts.Kubernetes, "kubernetes", "auto", "name segments after the Kubernetes pod serving each connection, watching the pods of this node: auto (on when running live in a pod with a service account token and NODE_NAME), on, off")
	f.StringVar(&opts.NodeName, "node-name", "", "the node whose pods --kubernetes watches (default: $NODE_NAME, from the downward API)")
	f.StringVar(&opts.ClusterName, "cluster-name", "", "the cluster's name in the segments' aws.eks.cluster_name (--kubernetes)")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig file for --kubernetes outside a pod (default: the pod's service account)")
	f.StringVar(&opts.plugins, "plugins", "", "AWS plugins that fill aws.* and origin: ec2, ecs, elasticbeanstalk (comma-separated; the last with data sets origin)")
	f.StringVar(&opts.EC2Endpoint, "ec2-metadata-endpoint", "http://169.254.169.254", "instance metadata service of the ec2 plugin")
	f.StringVar(&opts.BeanstalkConf, "beanstalk-config", "/var/elasticbeanstalk/xray/environment.conf", "environment file of the elasticbeanstalk plugin")
	f.Uint64Var(&opts.IDSeed, "id-seed", 0, "seed ids deterministically (for tests; 0 = random)")
	f.Uint64Var(&opts.SamplingSeed, "sampling-seed", 0, "seed sampling's random draws (for tests; 0 = random)")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for developers: go tool pprof)")
	_ = f.MarkHidden("id-seed")
	_ = f.MarkHidden("cpuprofile")
	_ = f.MarkHidden("ring-block-kb")
	_ = f.MarkHidden("ring-block-timeout")
	_ = f.MarkHidden("sampling-seed")
	_ = f.MarkHidden("ec2-metadata-endpoint")
	_ = f.MarkHidden("beanstalk-config")
	for flag, values := range map[string][]string{
		"pairing":              {segmenter.PairingResync.String(), segmenter.PairingStrict.String()},
		"engine":               {"auto", "ebpf", "cbpf", "pcap"},
		"log-level":            {"debug", "info", "warn", "error"},
		"log-format":           {"text", "json"},
		"centralized-sampling": {"auto", "on", "off"},
		"kubernetes":           {"auto", "on", "off"},
		"plugins":              {"ec2", "ecs", "elasticbeanstalk"},
	} {
		_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	// --version as well as the version command: users type both.
	cmd.Version = version
	cmd.SetVersionTemplate("xray-capture {{.Version}}\n")
	cmd.AddCommand(newVersionCmd(stdout), newConfigCmd(stdout, env, opts))
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	return cmd
}

// resolve sets the options from every source (flags, then XRAY_CAPTURE_*
// variables, then the --config file, then AWS_XRAY_TRACING_NAME over the
// default name) and validates them: what a run uses, and what "config
// print" shows.
func (opts *Options) resolve(fs *pflag.FlagSet, env lookupEnv) error {
	file, err := readConfig(fs, env)
	if err != nil {
		// None of the file applies: judging the other options would
		// report what it would have set.
		return err
	}
	sourcesErr := applySources(fs, env, file)
	if v, ok := env("OTEL_SERVICE_NAME"); ok && v != "" && opts.ServiceName == "" {
		// OpenTelemetry's name for the service: the default name when
		// nothing of ours gives one (AWS_XRAY_TRACING_NAME still wins).
		opts.ServiceName = v
	}
	if v, ok := env("AWS_XRAY_TRACING_NAME"); ok && v != "" {
		// As the Python SDK, the variable overrides the configured name;
		// but only the default one: overriding every --service name would
		// merge the services into one.
		opts.ServiceName = v
	}
	opts.otelEnv = func(k string) string { v, _ := env(k); return v }
	opts.samplingSet = fs.Changed("sampling")
	opts.maxConnectionsSet = fs.Changed("max-connections")
	return errors.Join(sourcesErr, opts.validate())
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "xray-capture %s\n", version)
			return err
		},
	}
}
