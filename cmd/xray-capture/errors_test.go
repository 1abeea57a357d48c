package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--read", "x.pcap", "--service-name", "s"}, nil, "at least one --port is required"},
		{[]string{"--port", "0", "--service-name", "s"}, nil, `--port "0": want a number from 1 to 65535`},
		{[]string{"--port", "80,70000", "--service-name", "s"}, nil, `--port "70000"`},
		{[]string{"--port", "http", "--service-name", "s"}, nil, `--port "http"`},
		{[]string{"--port", "80"}, nil, "a service name is required"},
		{[]string{"--port", "80", "--service-name", "<>"}, nil, "empty after removing characters X-Ray rejects"},
		{[]string{"--port", "80", "--service-name", "s", "--daemon-address", "nohost"}, nil, `daemon address "nohost": address nohost: missing port in address; want host:port (127.0.0.1:2000`},
		{[]string{"--port", "80", "--service-name", "s"}, map[string]string{"AWS_XRAY_DAEMON_ADDRESS": "udp:a:1 udp:b:2"}, "udp given twice"},
		{[]string{"--port", "80", "--service-name", "s", "--response-timeout", "0s"}, nil, "must be positive"},
		{[]string{"--port", "80", "--service-name", "s", "--idle-timeout", "1s"}, nil, "--idle-timeout 1s: want at least --response-timeout (1m0s)"},
		{[]string{"--port", "80", "--service-name", "s", "--idle-timeout", "40s", "--response-timeout", "50s"}, nil, "--idle-timeout 40s: want at least --response-timeout (50s)"},
		{[]string{"--port", "80", "--service-name", "s", "--bogus"}, nil, "unknown flag: --bogus"},
		{[]string{"--port", "80", "--service-name", "s", "extra"}, nil, "unknown command"},
		{[]string{"--port", "80", "--service-name", "s", "--engine", "magic"}, nil, `--engine "magic"`},
		{[]string{"--port", "80", "--service-name", "s", "--ring-size-mb", "0"}, nil, "--ring-size-mb 0"},
		{[]string{"--port", "80", "--service-name", "s", "--ring-block-kb", "6"}, nil, "--ring-block-kb 6: want a multiple of the page size"},
		{[]string{"--port", "80", "--service-name", "s", "--ring-block-timeout", "500us"}, nil, "--ring-block-timeout 500µs: want 1ms to 1s"},
		{[]string{"--port", "80", "--service-name", "s", "--ring-block-kb", "8192"}, nil, "--ring-size-mb 16 is too small for 1 workers: want at least 32"},
		{[]string{"--port", "80", "--service-name", "s", "--workers", "0"}, nil, "--workers 0: want 1 to 64"},
		{[]string{"--port", "80", "--service-name", "s", "--max-memory-mb", "40", "--ring-size-mb", "32"}, nil, "--max-memory-mb 40: the ring takes 32 MiB of it (--ring-size-mb); want at least 48"},
		{[]string{"--port", "80", "--service-name", "s", "--workers", "2", "--read", "x.pcap"}, nil, "a replay runs one pipeline"},
		{[]string{"--port", "80", "--service-name", "s", "--workers", "2", "--engine", "pcap"}, nil, "--workers needs the ebpf or cbpf engine"},
		{[]string{"--port", "80", "--service-name", "s", "--workers", "8", "--ring-size-mb", "4"}, nil, "--ring-size-mb 4 is too small for 8 workers: want at least 8"},
		{[]string{"--port", "80", "--service-name", "s", "--log-level", "loud"}, nil, `--log-level "loud"`},
		{[]string{"--port", "80", "--service-name", "s", "--daemon-address", "off"}, nil, "the segments go nowhere"},
		{[]string{"--port", "80", "--service-name", "s", "--daemon-address", "off", "-o", "-", "--centralized-sampling", "on"}, nil, "centralized sampling needs the daemon"},
	} {
		_, _, err := runCLI(t, tc.env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error spans several lines: %q", tc.args, err)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "xray-capture ") || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: %q, %v", args, out, err)
		}
	}
}

// TestCompletionOffersValues asks cobra's completion entry point, as a
// shell would, for the values of each flag that takes one of a few words.
func TestCompletionOffersValues(t *testing.T) {
	for flag, want := range map[string]string{
		"--engine":               "auto ebpf cbpf pcap",
		"--log-level":            "debug info warn error",
		"--log-format":           "text json",
		"--centralized-sampling": "auto on off",
		"--plugins":              "ec2 ecs elasticbeanstalk",
		"--pairing":              "resync strict",
	} {
		out, _, err := runCLI(t, nil, "__complete", flag, "")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Join(lines[:len(lines)-1], " "); got != want || lines[len(lines)-1] != ":4" {
			t.Errorf("%s completes to %q (%q), want %q and no file names", flag, got, lines[len(lines)-1], want)
		}
	}
}

func TestServiceNameFromEnv(t *testing.T) {
	daemon := testutil.StartFakeDaemon(t)
	out, _, err := runCLI(t, map[string]string{"AWS_XRAY_TRACING_NAME": "env-name"},
		"--read", filepath.Join(captures, "reset.pcap"), "--port", "8080", "--output", "-", "--daemon-address", daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if docs := parseLines(t, out); len(docs) != 1 || docs[0].Name != "env-name" {
		t.Errorf("AWS_XRAY_TRACING_NAME alone must name the segments: %s", out)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	daemon := testutil.StartFakeDaemon(t)
	good, err := os.ReadFile(filepath.Join(captures, "keepalive.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A record header that claims more bytes than the snap length.
	huge := append([]byte(nil), good[:24]...)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[8:], 1<<30)
	binary.LittleEndian.PutUint32(rec[12:], 1<<30)
	huge = append(huge, rec...)
	for _, tc := range []struct {
		name, path string
		want       string
		segments   int
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "--read: open " + filepath.Join(dir, "nope.pcap") + ": no such file", 0},
		{"empty", write("empty.pcap", nil), "not a pcap or pcapng file: file is empty", 0},
		{"text", write("notes.txt", []byte("these are notes, not packets\n")), "not a pcap or pcapng file", 0},
		{"short", write("short.pcap", good[:3]), "not a pcap or pcapng file", 0},
		{"truncated", write("truncated.pcap", good[:len(good)-50]), "truncated capture record", 10},
		{"huge record", write("huge.pcap", huge), "capture length exceeds snap length", 0},
		{"bad gzip", write("bad.pcap.gz", []byte{0x1f, 0x8b, 1, 2, 3}), "not a pcap or pcapng file: bad gzip", 0},
	} {
		out, stderr, err := runCLI(t, nil, "--read", tc.path, "--port", "8080", "--service-name", "s",
			"--output", "-", "--daemon-address", daemon.Addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
			continue
		}
		// What came before the damage is still traced and summarised.
		if n := len(parseLines(t, out)); n != tc.segments {
			t.Errorf("%s: %d segments, want %d", tc.name, n, tc.segments)
		}
		if tc.segments > 0 && !strings.Contains(stderr, "segments=") {
			t.Errorf("%s: no summary line: %q", tc.name, stderr)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	daemon := testutil.StartFakeDaemon(t)
	_, stderr, err := runCLI(t, nil, "--read", filepath.Join(captures, "midstream.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	want := "xray-capture: packets=24 connections=1 requests=9 segments=8 unpaired_requests=1 unpaired_responses=2 daemon_sent=8\n"
	if stderr != want {
		t.Errorf("summary:\n got %q\nwant %q", stderr, want)
	}

	// Nothing listens at the daemon address: the datagrams leave before
	// the ICMP answer, so they count as sent, and the summary says they
	// were lost.
	_, stderr, err = runCLI(t, nil, "--read", filepath.Join(captures, "midstream.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", freeUDPAddr(t))
	if err != nil || !strings.Contains(stderr, " daemon_unreachable (connection refused: nothing listens at the daemon address") {
		t.Errorf("no daemon: %v\n%s", err, stderr)
	}

	// Without a daemon: the segments go to the file only, and the summary
	// says the daemon was off.
	out := filepath.Join(t.TempDir(), "segments.jsonl")
	_, stderr, err = runCLI(t, nil, "--read", filepath.Join(captures, "midstream.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", "off", "--output", out)
	if err != nil {
		t.Fatal(err)
	}
	want = "xray-capture: packets=24 connections=1 requests=9 segments=8 unpaired_requests=1 unpaired_responses=2 daemon=off\n"
	if stderr != want {
		t.Errorf("summary with the daemon off:\n got %q\nwant %q", stderr, want)
	}
	if b, err := os.ReadFile(out); err != nil || bytes.Count(b, []byte("\n")) != 8 {
		t.Errorf("--output with the daemon off: %d lines, %v", bytes.Count(b, []byte("\n")), err)
	}
}

// A replay rewrites --output; a disk that is full loses the segments,
// counted on the summary line, and the exit says so.
func TestOutputRewrittenAndFullDisk(t *testing.T) {
	out := filepath.Join(t.TempDir(), "segments.jsonl")
	os.WriteFile(out, []byte("an older run\n"), 0o644)
	args := []string{"--read", filepath.Join(captures, "midstream.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", "off", "--output"}
	if _, _, err := runCLI(t, nil, append(args, out)...); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) != 8 || bytes.Contains(b, []byte("older")) {
		t.Errorf("a replay's --output was not rewritten:\n%s", b)
	}

	_, stderr, err := runCLI(t, nil, append(args, "/dev/full")...)
	if err == nil || !strings.Contains(err.Error(), "--output: 8 segments not written") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("a full disk: %v", err)
	}
	if !strings.Contains(stderr, " output_lost=8 (") {
		t.Errorf("the summary line does not count the lost segments: %q", stderr)
	}
}

// freeUDPAddr is a loopback UDP address nothing listens on.
func freeUDPAddr(t *testing.T) string {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().String()
}

// TestJSONLogsEveryLine: with --log-format json every line the process
// writes to stderr is a JSON object: the logs, the summary and the error
// that ends it, whichever source set the format.
func TestJSONLogsEveryLine(t *testing.T) {
	allJSON := func(name, stderr string) []map[string]any {
		var objs []map[string]any
		for line := range strings.SplitSeq(strings.TrimSpace(stderr), "\n") {
			var o map[string]any
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				t.Errorf("%s: a line that is not JSON: %q", name, line)
			}
			objs = append(objs, o)
		}
		return objs
	}
	_, stderr, err := runCLI(t, nil, "--read", filepath.Join(captures, "keepalive.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", "off", "--output", "-", "--log-format", "json", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	objs := allJSON("replay", stderr)
	if last := objs[len(objs)-1]; last["msg"] != "summary" || last["segments"] != float64(10) || last["daemon"] != "off" {
		t.Errorf("summary: %v", last)
	}
	for name, env := range map[string]map[string]string{"flag": nil, "variable": {"XRAY_CAPTURE_LOG_FORMAT": "json"}} {
		args := []string{"--port", "0", "--service-name", "s"}
		if env == nil {
			args = append(args, "--log-format", "json")
		}
		var out, errb bytes.Buffer
		cmd := newRootCmd(&out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		cmd.SetArgs(args)
		err := cmd.Execute()
		if err == nil {
			t.Fatalf("%s: --port 0 accepted", name)
		}
		reportFatal(&errb, logFormat(cmd), err)
		objs := allJSON(name, errb.String())
		if o := objs[len(objs)-1]; o["level"] != "ERROR" || !strings.Contains(fmt.Sprint(o["error"]), `--port "0"`) {
			t.Errorf("%s: fatal error %v", name, o)
		}
	}
	var b bytes.Buffer
	reportFatal(&b, "text", errors.New("boom"))
	if b.String() != "xray-capture: boom\n" {
		t.Errorf("text: %q", b.String())
	}
}
