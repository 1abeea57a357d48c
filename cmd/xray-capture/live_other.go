//go:build !linux

package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

func runLive(*cobra.Command, *Options, *slog.Logger, *statsBox) error {
	return errors.New("live capture needs Linux; replay a capture file with --read FILE")
}
