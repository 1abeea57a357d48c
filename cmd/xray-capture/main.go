// Command xray-capture traces the HTTP traffic of an app port into AWS X-Ray
// segments, from a capture file or live from the host's interfaces.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := newRootCmd(os.Stdout, os.Stderr, os.LookupEnv)
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		reportFatal(os.Stderr, logFormat(cmd), err)
		os.Exit(1)
	}
}

// logFormat is the --log-format the command ran with, from whichever
// source set it (the sources set the flag), or text when it never parsed.
func logFormat(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
		return "json"
	}
	return "text"
}

// reportFatal writes the error that ends the process as the logs are
// written: a collector reading JSON lines gets one more.
func reportFatal(w io.Writer, format string, err error) {
	if format == "json" {
		slog.New(slog.NewJSONHandler(w, nil)).Error("fatal", "error", err.Error())
		return
	}
	fmt.Fprintln(w, "xray-capture:", err)
}
