//go:build !linux

package main

import (
	"errors"
	"log/slog"

	"github.com/xray-capture/xray-capture/internal/pipeline"
)

func readyLive(*pipeline.Options, *slog.Logger) error {
	return errors.New("live capture needs Linux; replay a capture file with --read FILE")
}

func handleSignals(*Options, *pipeline.Pipeline, *slog.Logger) func() { return func() {} }
