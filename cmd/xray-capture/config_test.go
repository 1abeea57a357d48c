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

// TestConfigPrintIsWhatARunUses: config print validates as a run does and
// prints the values a run uses; each case is checked against the options
// the run would get.
func TestConfigPrintIsWhatARunUses(t *testing.T) {
	file := writeConfig(t, "port: [80]\nservice-name: from-file\nmax-memory-mb: 64\n")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		want    []string
	}{
		{"tracing name", map[string]string{"AWS_XRAY_TRACING_NAME": "tn"}, []string{"--port", "8080", "--service-name", "demo"}, "",
			[]string{"service-name: tn\n"}},
		{"tracing name over the file", map[string]string{"AWS_XRAY_TRACING_NAME": "tn"}, []string{"--config", file}, "",
			[]string{"service-name: tn\n", "max-memory-mb: 64\n"}},
		{"connections capped by memory", nil, []string{"--port", "80", "--service-name", "s"}, "",
			[]string{"max-connections: 32768\n", "max-reassembly-mb: 64\n", "max-header-buffer-mb: 64\n"}},
		{"connections capped by the file's memory", nil, []string{"--config", file}, "",
			[]string{"max-connections: 8192\n", "max-reassembly-mb: 16\n"}},
		{"connections given", nil, []string{"--port", "80", "--service-name", "s", "--max-connections", "100000"}, "",
			[]string{"max-connections: 100000\n"}},
		{"port out of range", nil, []string{"--port", "80800", "--service-name", "s"}, `--port "80800"`, nil},
		{"port from env not a number", map[string]string{"XRAY_CAPTURE_PORT": "abc"}, []string{"--service-name", "s"}, `--port "abc"`, nil},
		{"no name", nil, []string{"--port", "80"}, "a service name is required", nil},
		{"bad engine in env", map[string]string{"XRAY_CAPTURE_ENGINE": "magic"}, []string{"--port", "80", "--service-name", "s"}, `--engine "magic"`, nil},
	} {
		out, _, err := runCLI(t, tc.env, append([]string{"config", "print"}, tc.args...)...)
		_, runErr := parse(t, tc.env, tc.args...)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || runErr == nil || runErr.Error() != err.Error() {
				t.Errorf("%s: config print error %v, run error %v; want both %q", tc.name, err, runErr, tc.wantErr)
			}
			continue
		}
		if err != nil || runErr != nil {
			t.Errorf("%s: %v / %v", tc.name, err, runErr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: config print lacks %q:\n%s", tc.name, w, out)
			}
		}
		// Read back as a --config file, it gives the run's options.
		o, err := parse(t, nil, "--config", writeConfig(t, out))
		run, _ := parse(t, tc.env, tc.args...)
		if err != nil || o.ServiceName != run.ServiceName || o.MaxConnections != run.MaxConnections ||
			fmt.Sprint(o.Ports) != fmt.Sprint(run.Ports) || o.ReassemblyMB != run.ReassemblyMB {
			t.Errorf("%s: read back %+v (%v), the run uses %+v", tc.name, o, err, run)
		}
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

// TestServiceOption: --service, XRAY_CAPTURE_SERVICE and the config key
// service (a mapping or a list) reach Options.Services, in their order of
// precedence; the ports they name are traced without --port, and the
// default name is needed only for what they leave unnamed.
func TestServiceOption(t *testing.T) {
	mapping := writeConfig(t, "service:\n  8080: shop\n  10.0.1.0/24: net\n  10.0.1.5:8080: addr\n  2001:db8::1: v6\n  \"[2001:db8::1]:9090\": v6port\n")
	list := writeConfig(t, "port: 80\nservice-name: other\nservice: [\"8080=shop\", \"10.0.1.0/24:80=net\"]\n")
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		services string
		ports    string
		dflt     string
	}{
		{"flags", nil, []string{"--service", "8080=shop", "--service", "9090=cart"}, "[8080=shop 9090=cart]", "[8080 9090]", ""},
		{"comma-separated flag", nil, []string{"--service", "8080=shop,9090=cart"}, "[8080=shop 9090=cart]", "[8080 9090]", ""},
		{"with --port", nil, []string{"--port", "80,8080", "--service", "8080=shop", "--service-name", "d"}, "[8080=shop]", "[80 8080]", "d"},
		{"address only, with --port", nil, []string{"--port", "80", "--service", "10.0.1.5=shop", "--service-name", "d"}, "[10.0.1.5=shop]", "[80]", "d"},
		{"env", map[string]string{"XRAY_CAPTURE_SERVICE": "8080=shop, [2001:db8::1]:9090=cart", "XRAY_CAPTURE_SERVICE_NAME": "d"}, nil, "[8080=shop [2001:db8::1]:9090=cart]", "[8080 9090]", "d"},
		{"flag over env", map[string]string{"XRAY_CAPTURE_SERVICE": "8080=shop"}, []string{"--service", "9090=cart"}, "[9090=cart]", "[9090]", ""},
		{"file mapping", nil, []string{"--config", mapping, "--service-name", "d"},
			"[8080=shop 10.0.1.0/24=net 10.0.1.5:8080=addr 2001:db8::1=v6 [2001:db8::1]:9090=v6port]", "[8080 9090]", "d"},
		{"file list", nil, []string{"--config", list}, "[8080=shop 10.0.1.0/24:80=net]", "[80 8080]", "other"},
		{"env over file", map[string]string{"XRAY_CAPTURE_SERVICE": "80=web"}, []string{"--config", list}, "[80=web]", "[80]", "other"},
		// The variable overrides the default name, not the services'.
		{"tracing name", map[string]string{"AWS_XRAY_TRACING_NAME": "env-name"}, []string{"--port", "80", "--service", "8080=shop"}, "[8080=shop]", "[80 8080]", "env-name"},
	} {
		o, err := parse(t, tc.env, tc.args...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := fmt.Sprint(o.Services); got != tc.services || fmt.Sprint(o.Ports) != tc.ports || o.ServiceName != tc.dflt {
			t.Errorf("%s: services %s ports %v default %q; want %s %s %q", tc.name, got, o.Ports, o.ServiceName, tc.services, tc.ports, tc.dflt)
		}
	}
}

// TestServiceErrors: every bad --service is reported at once, one line
// each, with what the default name and the ports still need.
func TestServiceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		env    map[string]string
		args   []string
		want   []string
	}{
		{
			name: "bad specs",
			args: []string{"--port", "80", "--service-name", "d", "--service", "8080", "--service", "0=a", "--service", "10.0.1.5/24=a",
				"--service", "10.0.1.999=a", "--service", "[2001:db8::1]=a", "--service", "8080=<>", "--service", "70000=a"},
			want: []string{`--service "8080": want SPEC=NAME`, `--service "0=a": port "0": want a number from 1 to 65535`,
				`--service "10.0.1.5/24=a": 10.0.1.5/24 has bits set past its /24: did you mean 10.0.1.0/24?`,
				`--service "10.0.1.999=a": "10.0.1.999" is not an address or a CIDR`,
				`--service "[2001:db8::1]=a": "[2001:db8::1]": want [ADDRESS]:PORT`,
				`--service "8080=<>": name "<>" is empty after removing characters X-Ray rejects`,
				`--service "70000=a": port "70000": want a number from 1 to 65535`},
		},
		{
			name: "duplicates and conflicts",
			args: []string{"--service-name", "d", "--service", "8080=shop,08080=shop", "--service", "10.0.1.5=a,10.0.1.5/32=b",
				"--service", "[::ffff:10.0.1.5]:80=c,10.0.1.5:80=c"},
			want: []string{`--service "08080=shop": 8080 is given twice`, `--service "10.0.1.5/32=b": 10.0.1.5 is already named a`,
				`--service "10.0.1.5:80=c": 10.0.1.5:80 is given twice`},
		},
		{
			name: "no port at all",
			args: []string{"--service-name", "d", "--service", "10.0.1.5=a"},
			want: []string{"at least one --port is required (or a --service that names a port)"},
		},
		{
			name: "a port without a name of its own needs the default",
			args: []string{"--port", "80,9090", "--service", "8080=shop", "--service", "10.0.1.5:9090=a"},
			want: []string{"a service name is required for the requests to port 80, 9090 that no --service names"},
		},
		{
			name:   "from the file and the environment",
			config: "port: 80\nservice-name: d\nservice:\n  8080: shop\n  \"10.0.1.5/24\": a\n  7070: [x]\n",
			want:   []string{"line 6: want KEY: NAME"},
		},
		{
			name: "from the environment",
			env:  map[string]string{"XRAY_CAPTURE_SERVICE": "8080=shop,8080=cart"},
			args: []string{"--service-name", "d"},
			want: []string{`--service "8080=cart": 8080 is already named shop`},
		},
		{
			name:   "a mapping for a flag that takes none",
			config: "port: {80: x}\nservice-name: d\n",
			want:   []string{"line 1: port: want a value or a list", "at least one --port is required"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.config != "" {
				args = append([]string{"--config", writeConfig(t, tc.config)}, args...)
			}
			_, err := parse(t, tc.env, args...)
			if err == nil {
				t.Fatalf("no error, want %d", len(tc.want))
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i >= len(lines) || !strings.Contains(lines[i], w) {
					t.Errorf("error %d does not say %q:\n%v", i+1, w, err)
				}
			}
		})
	}
}

// TestServiceConfigPrint: config print shows the services as a mapping
// that reads back as the same services.
func TestServiceConfigPrint(t *testing.T) {
	out, _, err := runCLI(t, map[string]string{"XRAY_CAPTURE_SERVICE": "8080=shop,[2001:db8::1]:9090=v6,::ffff:10.0.2.1=mapped"},
		"config", "print", "--service", "8080=shop", "--service", "10.0.1.0/24=net", "--service-name", "d")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "service:\n  8080: shop\n  10.0.1.0/24: net\nservice-name: d\n") {
		t.Errorf("config print:\n%s", out)
	}
	o, err := parse(t, nil, "--config", writeConfig(t, out))
	if err != nil || fmt.Sprint(o.Services) != "[8080=shop 10.0.1.0/24=net]" {
		t.Errorf("round trip: %v, %v", o, err)
	}
	// A name with a comma, from the file, stays one item.
	out, _, err = runCLI(t, nil, "config", "print", "--config", writeConfig(t, "service-name: d\nservice:\n  7070: \"a, b\"\n"))
	if err != nil || !strings.Contains(out, "service:\n  7070: a, b\n") {
		t.Errorf("config print: %v\n%s", err, out)
	}
	if o, err = parse(t, nil, "--config", writeConfig(t, out)); err != nil || fmt.Sprint(o.Services) != "[7070=a b]" {
		t.Errorf("round trip: %v, %v", o, err)
	}
	// From the environment, with keys YAML must quote.
	out, _, err = runCLI(t, map[string]string{"XRAY_CAPTURE_SERVICE": "8080=shop,[2001:db8::1]:9090=v6,::ffff:10.0.2.1=mapped"},
		"config", "print", "--service-name", "d")
	if err != nil {
		t.Fatal(err)
	}
	if o, err = parse(t, nil, "--config", writeConfig(t, out)); err != nil || fmt.Sprint(o.Services) != "[8080=shop [2001:db8::1]:9090=v6 10.0.2.1=mapped]" {
		t.Errorf("round trip:\n%s\n%v, %v", out, o, err)
	}
	out, _, _ = runCLI(t, nil, "config", "print", "--port", "80", "--service-name", "s")
	if !strings.Contains(out, "service: {}\n") {
		t.Errorf("no services:\n%s", out)
	}
}
