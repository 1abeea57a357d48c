//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// cpu runs a command and writes "CPU_SECONDS PEAK_RSS_MIB" to -o: user
// plus system time of the process and its threads, from wait4's rusage,
// to the microsecond (GNU time prints hundredths of a second, a sixth of
// tcpdump's whole read of a small capture). The command's standard
// streams are ours; its exit status is ours.
func cpu(args []string) error {
	fs := flag.NewFlagSet("cpu", flag.ContinueOnError)
	out := fs.String("o", "", "file for the measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: benchtool cpu -o FILE -- COMMAND [ARGS]")
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	runErr := cmd.Run()
	if cmd.ProcessState == nil {
		return runErr
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("no resource usage for the command")
	}
	secs := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	if err := os.WriteFile(*out, fmt.Appendf(nil, "%.6f %.1f\n", secs, float64(ru.Maxrss)/1024), 0o644); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), runErr)
	}
	return nil
}
