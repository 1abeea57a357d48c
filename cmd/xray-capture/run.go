package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/awsmeta"
	"github.com/xray-capture/xray-capture/internal/pipeline"
)

// run replays a file or captures live, as the options say: the process
// around the pipeline (memory limit, metrics, privileges, signals, the
// summary line).
func run(cmd *cobra.Command, o *Options) error {
	log := newLogger(o)
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The Go heap's soft limit: the GC works harder near the ceiling
	// instead of letting the heap grow past it. A live capture's ring is
	// mapped memory outside the heap, so it comes off the limit: the
	// ceiling holds for the whole process, as a container's limit counts it.
	limitMB := o.MaxMemoryMB
	if o.Read == "" {
		limitMB -= o.RingMB
	}
	debug.SetMemoryLimit(int64(limitMB) << 20)
	box := &pipeline.Box{}
	if o.MetricsAddress != "" {
		stop, err := serveMetrics(cmd.Context(), o.MetricsAddress, box, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	logStats(cmd.Context(), o.StatsInterval, box, log)

	po := o.pipelineOptions(log, box)
	if o.kubernetesOn() {
		pods, err := o.startPods(cmd.Context(), log)
		if err != nil {
			return err
		}
		po.Pods = pods
		defer func() {
			log.Info("kubernetes", "pods", pods.Len(), "requests_to_no_known_pod", pods.Unknown.Load())
		}()
	}
	live := o.Read == ""
	if live {
		if err := readyLive(&po, log); err != nil {
			return err
		}
	}
	p, err := pipeline.New(cmd.Context(), po)
	if err != nil {
		return err
	}
	defer p.Close()
	if live {
		defer handleSignals(o, p, log)()
	}
	err = p.Run(cmd.Context())
	printSummary(o.Stderr, o.LogFormat, box.Get())
	return err
}

// pipelineOptions is what the options ask of the pipeline.
func (o *Options) pipelineOptions(log *slog.Logger, box *pipeline.Box) pipeline.Options {
	return pipeline.Options{
		Read:      o.Read,
		Interface: o.Interface,
		Engine:    o.Engine,
		Ring:      o.Ring,
		Workers:   o.Workers,

		Ports:           o.Ports,
		ServiceName:     o.ServiceName,
		Services:        o.Services,
		DynamicNaming:   o.DynamicNaming,
		ResponseTimeout: o.ResponseTimeout,
		IdleTimeout:     o.IdleTimeout,
		MaxConnections:  o.MaxConnections,
		MaxPending:      o.MaxPending,
		ReassemblyMB:    o.ReassemblyMB,
		HeaderBufferMB:  o.HeaderBufferMB,
		Pairing:         o.Pairing,
		SDKVersion:      version,
		IDSeed:          o.IDSeed,

		Sampling:      o.Sampling,
		SamplingSet:   o.samplingSet,
		SamplingRules: o.SamplingRules,
		Centralized:   o.Centralized,
		SamplingSeed:  o.SamplingSeed,

		Metadata: awsmeta.Config{Plugins: o.Plugins, EC2Endpoint: o.EC2Endpoint, BeanstalkConf: o.BeanstalkConf,
			ECSMetadata: os.Getenv("ECS_CONTAINER_METADATA_URI_V4"), Log: log},

		DaemonAddress: o.DaemonAddress,
		OTLP:          o.OTLP,
		Region:        o.Region,
		Output:        o.Output,
		Print:         o.Print,
		Summary:       o.Summary,
		Stdout:        o.Stdout,

		Log:   log,
		Stats: box,
	}
}

func newLogger(o *Options) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[o.LogLevel]
	opts := &slog.HandlerOptions{Level: level}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(o.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(o.Stderr, opts))
}

// startCPUProfile profiles the run into path until stop is called: where
// a replay's time goes (issue 21), with nothing to build.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
