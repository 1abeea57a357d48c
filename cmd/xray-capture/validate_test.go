package main

import (
	"strings"
	"testing"
)

// TestBadOptionsAllReported: every bad option is reported at once, one
// line each, from flags, variables and the config file alike; an option
// that only looks bad because of another one is not reported again.
func TestBadOptionsAllReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string // a --config file's body, if not ""
		env    map[string]string
		args   []string
		want   []string // one line each, in this order
	}{
		{
			name: "flags",
			args: []string{"--port", "0", "--engine", "magic", "--workers", "0", "--log-level", "loud", "--pairing", "guess"},
			want: []string{`--port "0": want a number from 1 to 65535`, "a service name is required",
				`--pairing "guess": want resync or strict`, `--engine "magic": want auto, ebpf, cbpf or pcap`, "--workers 0: want 1 to 64", `--log-level "loud"`},
		},
		{
			name: "the ring is not judged per worker when either is bad",
			args: []string{"--port", "80", "--service-name", "s", "--ring-size-mb", "0", "--workers", "0"},
			want: []string{"--ring-size-mb 0: want 1 to 4096", "--workers 0: want 1 to 64"},
		},
		{
			name: "the ring does not fit in a memory ceiling that is already bad",
			args: []string{"--port", "80", "--service-name", "s", "--max-memory-mb", "8"},
			want: []string{"--max-memory-mb 8: want at least 16"},
		},
		{
			name: "no daemon",
			args: []string{"--port", "80", "--service-name", "s", "--daemon-address", "off", "--centralized-sampling", "on",
				"--log-format", "xml"},
			want: []string{"the segments go nowhere", "centralized sampling needs the daemon", `--log-format "xml"`},
		},
		{
			name:   "every source",
			config: "port: [80]\nsevice-nam: typo\nmax-pending: lots\nresponse-timeout: {a: 1}\nplugins: azure\n",
			env:    map[string]string{"XRAY_CAPTURE_IDLE_TIMEOUT": "soon"},
			args:   []string{"--engine", "magic"},
			want: []string{`line 2: unknown key "sevice-nam"`, "line 4: response-timeout: want a value or a list",
				`XRAY_CAPTURE_IDLE_TIMEOUT="soon"`, `line 3: max-pending: invalid argument "lots"`,
				"a service name is required", `--engine "magic"`, "azure"},
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
