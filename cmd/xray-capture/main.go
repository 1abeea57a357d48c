// Command xray-capture traces the HTTP traffic of an app port into AWS X-Ray
// segments, from a capture file or (later) live from the host's interfaces.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr, os.LookupEnv).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "xray-capture:", err)
		os.Exit(1)
	}
}
