package main

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// servicesURLs are the requests of services.pcap: Go's server on port
// 8080 and nginx on 80, at 192.0.2.1, 192.0.2.3 and 2001:db8::1; two carry
// a Host of *.example.com.
var servicesURLs = []string{
	"http://192.0.2.1:8080/hello", "http://api.example.com/status/404", "http://192.0.2.1/static.txt",
	"http://www.example.com/limited", "http://192.0.2.3:8080/status/503", "http://192.0.2.3/empty",
	"http://[2001:db8::1]:8080/hello", "http://[2001:db8::1]/static.txt",
}

// TestServicesReplay: one replay, several services, each request under the
// name of the most specific --service that covers its server, else the
// default name; dynamic naming falls back to the service's name.
func TestServicesReplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string // by servicesURLs
	}{
		{"ports", []string{"--service", "8080=shop", "--service", "80=static"}, nil,
			[]string{"shop", "shop", "static", "static", "shop", "static", "shop", "static"}},
		{"addresses", []string{"--port", "80,8080", "--service", "192.0.2.3=cart", "--service", "2001:db8::/64=v6", "--service", "192.0.2.1:80=static"}, nil,
			[]string{"default", "default", "static", "static", "cart", "cart", "v6", "v6"}},
		{"precedence", []string{"--service", "8080=shop,80=static,192.0.2.0/24=net,192.0.2.3:80=addr-port,192.0.2.0/24:8080=net-port,[2001:db8::1]:80=v6-port"}, nil,
			[]string{"net-port", "net-port", "net", "net", "net-port", "addr-port", "shop", "v6-port"}},
		{"dynamic", []string{"--port", "80", "--service", "8080=shop", "--dynamic-naming", "*.example.com"}, map[string]string{"AWS_XRAY_TRACING_NAME": "from-env"},
			[]string{"shop", "api.example.com", "from-env", "www.example.com", "shop", "from-env", "shop", "from-env"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--read", filepath.Join(captures, "services.pcap"), "--service-name", "default",
				"--output", "-", "--daemon-address", "off"}, tc.args...)
			out, stderr, err := runCLI(t, tc.env, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got := map[string]string{}
			for _, d := range parseLines(t, out) {
				got[d.HTTP.Request.URL] = d.Name
			}
			if urls := slices.Sorted(maps.Keys(got)); !slices.Equal(urls, slices.Sorted(slices.Values(servicesURLs))) {
				t.Fatalf("requests traced: %q", urls)
			}
			for i, u := range servicesURLs {
				if got[u] != tc.want[i] {
					t.Errorf("%s: named %q, want %q", u, got[u], tc.want[i])
				}
			}
		})
	}
}

// TestServicesSummary: --summary shows two services on two ports, from
// one replay, each row under its service's name.
func TestServicesSummary(t *testing.T) {
	out, _, err := runCLI(t, nil, "--read", filepath.Join(captures, "services.pcap"), "--service", "8080=shop,80=static",
		"--summary", "--daemon-address", "off")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) >= 7 {
			rows[f[0]+" "+f[1]+" "+f[2]] = strings.Join(f[3:7], " ")
		}
	}
	for route, want := range map[string]string{
		"SERVICE METHOD PATH":    "REQUESTS SAMPLED ERROR% FAULT%",
		"shop GET /hello":        "2 2 0.0 0.0",
		"shop GET /status/404":   "1 1 100.0 0.0",
		"shop GET /status/503":   "1 1 0.0 100.0",
		"static GET /static.txt": "2 2 0.0 0.0",
		"static GET /limited":    "1 1 100.0 0.0",
		"static GET /empty":      "1 1 0.0 0.0",
	} {
		if rows[route] != want {
			t.Errorf("row %q: %q, want %q", route, rows[route], want)
		}
	}
	if len(rows) != 7 {
		t.Errorf("summary table:\n%s", out)
	}
}
