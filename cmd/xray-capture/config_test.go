package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/segmenter"
)

// parse runs the root command up to the point where it would start, and
// returns the options it would run with.
func parse(t *testing.T, env map[string]string, args ...string) (*Options, error) {
	t.Helper()
	var got *Options
	cmd := newRootCmdWith(&bytes.Buffer{}, &bytes.Buffer{}, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, func(_ *cobra.Command, o *Options) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	err := cmd.Execute()
	return got, err
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "xray-capture.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigSources(t *testing.T) {
	file := writeConfig(t, "# shop's agent\nport: [80, 8080]\nservice-name: from-file\ndaemon-address: 10.0.0.9:2000\nmax-pending: 7\nsampling: false\n")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		service string
		daemon  string
		ports   string
		pending int
	}{
		{"defaults", nil, []string{"--port", "1", "--service-name", "s"}, "s", "127.0.0.1:2000", "[1]", 64},
		{"flags alone", nil, []string{"--port", "81", "--service-name", "f", "--daemon-address", "127.0.0.2:2000", "--max-pending", "3"}, "f", "127.0.0.2:2000", "[81]", 3},
		{"env alone", map[string]string{"XRAY_CAPTURE_PORT": "82,83", "XRAY_CAPTURE_SERVICE_NAME": "e", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.3:2000", "XRAY_CAPTURE_MAX_PENDING": "4"}, nil, "e", "127.0.0.3:2000", "[82 83]", 4},
		{"file alone", nil, []string{"--config", file}, "from-file", "10.0.0.9:2000", "[80 8080]", 7},
		{"file named by env", map[string]string{"XRAY_CAPTURE_CONFIG": file}, nil, "from-file", "10.0.0.9:2000", "[80 8080]", 7},
		{"env over file", map[string]string{"XRAY_CAPTURE_MAX_PENDING": "5", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.4:2000"}, []string{"--config", file}, "from-file", "127.0.0.4:2000", "[80 8080]", 5},
		{"ours over the SDK's variable", map[string]string{"XRAY_CAPTURE_DAEMON_ADDRESS": "127.0.0.5:2000", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.4:2000"}, []string{"--config", file}, "from-file", "127.0.0.5:2000", "[80 8080]", 7},
		{"flags over env over file", map[string]string{"XRAY_CAPTURE_MAX_PENDING": "5"}, []string{"--config", file, "--max-pending", "9", "--port", "99"}, "from-file", "10.0.0.9:2000", "[99]", 9},
		{"tracing name over everything", map[string]string{"AWS_XRAY_TRACING_NAME": "env-name"}, []string{"--config", file, "--service-name", "flag-name"}, "env-name", "10.0.0.9:2000", "[80 8080]", 7},
	} {
		o, err := parse(t, tc.env, tc.args...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if o.ServiceName != tc.service || o.DaemonAddress.UDP != tc.daemon || fmt.Sprint(o.Ports) != tc.ports || o.MaxPending != tc.pending {
			t.Errorf("%s: service %q daemon %q ports %v pending %d", tc.name, o.ServiceName, o.DaemonAddress.UDP, o.Ports, o.MaxPending)
		}
	}
	if o, _ := parse(t, nil, "--config", file); o == nil || o.Sampling || !o.samplingSet {
		t.Error("sampling: false in the file must turn sampling off explicitly")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		body string
		env  map[string]string
		want string
	}{
		{"port: 80\nservice-name: s\nsevice-nam: typo\n", nil, `line 3: unknown key "sevice-nam"`},
		{"port: 80\nmax-pending: lots\n", nil, `line 2: max-pending: invalid argument "lots"`},
		{"port: 80\nresponse-timeout: {a: 1}\n", nil, "line 2: response-timeout: want a value or a list"},
		{"- just\n- a list\n", nil, "line 1: want a mapping"},
		{"port: [80\n", nil, "yaml:"},
		{"port: 80\nservice-name: s\n", map[string]string{"XRAY_CAPTURE_IDLE_TIMEOUT": "soon"}, `XRAY_CAPTURE_IDLE_TIMEOUT="soon"`},
	} {
		_, err := parse(t, tc.env, "--config", writeConfig(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
	if _, err := parse(t, nil, "--config", "/nonexistent/x.yaml"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigPrint(t *testing.T) {
	file := writeConfig(t, "port: [80, 8080]\nservice-name: shop\n")
	out, _, err := runCLI(t, map[string]string{"XRAY_CAPTURE_MAX_PENDING": "5"}, "config", "print", "--config", file, "--engine", "cbpf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"port: [80, 8080]\n", "service-name: shop\n", "max-pending: 5\n", "engine: cbpf\n", "sampling: true\n", "pairing: resync\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
	// What it prints is a valid --config file.
	o, err := parse(t, nil, "--config", writeConfig(t, out))
	if err != nil || o.MaxPending != 5 || o.Engine != "cbpf" || o.ServiceName != "shop" {
		t.Errorf("round trip: %+v, %v", o, err)
	}
}

// TestPairingOption: --pairing, XRAY_CAPTURE_PAIRING and the config key
// pairing, in their order of precedence, reach Options.Pairing; a bad
// value is an error that names its source.
func TestPairingOption(t *testing.T) {
	strict := writeConfig(t, "port: 80\nservice-name: s\npairing: strict\n")
	bad := writeConfig(t, "port: 80\nservice-name: s\npairing: guess\n")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    segmenter.PairingMode
		wantErr string
	}{
		{"default", nil, nil, segmenter.PairingResync, ""},
		{"flag", nil, []string{"--pairing", "strict"}, segmenter.PairingStrict, ""},
		{"env", map[string]string{"XRAY_CAPTURE_PAIRING": "strict"}, nil, segmenter.PairingStrict, ""},
		{"file", nil, []string{"--config", strict}, segmenter.PairingStrict, ""},
		{"env over file", map[string]string{"XRAY_CAPTURE_PAIRING": "resync"}, []string{"--config", strict}, segmenter.PairingResync, ""},
		{"flag over env", map[string]string{"XRAY_CAPTURE_PAIRING": "strict"}, []string{"--pairing", "resync"}, segmenter.PairingResync, ""},
		{"bad flag", nil, []string{"--pairing", "loose"}, 0, `--pairing "loose": want resync or strict`},
		{"bad env", map[string]string{"XRAY_CAPTURE_PAIRING": "Strict"}, nil, 0, `--pairing "Strict": want resync or strict`},
		{"bad file", nil, []string{"--config", bad}, 0, `--pairing "guess": want resync or strict`},
	} {
		args := tc.args
		if !slices.Contains(args, "--config") {
			args = append([]string{"--port", "80", "--service-name", "s"}, args...)
		}
		o, err := parse(t, tc.env, args...)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if o.Pairing != tc.want {
			t.Errorf("%s: pairing %v, want %v", tc.name, o.Pairing, tc.want)
		}
	}
}

// TestPairingCompletion: the shell completes --pairing with its values.
func TestPairingCompletion(t *testing.T) {
	out, _, err := runCLI(t, nil, cobra.ShellCompRequestCmd, "--pairing", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "resync\nstrict\n:4\n") {
		t.Errorf("completion of --pairing:\n%s", out)
	}
}
