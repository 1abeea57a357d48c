package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

const corpusDir = "../../../shared/corpus/zeek"

// corpusDifferences lists every Zeek row (capture, 0-based index among the
// rows that have a method) that xray-capture does not reproduce, and why.
// The test fails when a row differs without an entry here, and when an entry
// no longer differs, so the list stays true.
var corpusDifferences = map[string]string{
	// Zeek wrong, tshark agrees with us: fuzzer-made bytes. The "request
	// line" has a space inside its target and the "status line" reads
	// "HTTP/!.12 206"; no HTTP server or client would take either.
	"http-inner-transfer-encoding-ossfuzz:0": "not HTTP: garbage request and status lines",
}

type zeekRow struct {
	method, host, uri, status string
}

func readZeekRows(t *testing.T, name string) []zeekRow {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "expected", name+".tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []zeekRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) < 10 {
			t.Fatalf("%s: short row %q", name, line)
		}
		if c[5] == "-" {
			continue // a response Zeek could not pair: no request to compare
		}
		rows = append(rows, zeekRow{method: c[5], host: c[6], uri: c[7], status: c[9]})
	}
	return rows
}

// zeekUnescape undoes Zeek's \xNN escaping of non-printable bytes.
func zeekUnescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			var v byte
			if _, err := fmt.Sscanf(s[i+2:i+4], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodePercent decodes %XX as Zeek does, leaving bad escapes as they are.
func decodePercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := url.PathUnescape(s[i : i+3]); err == nil {
				b.WriteString(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// matches reports whether segment d is Zeek's row r. Columns Zeek's baseline
// lacks ("?") match anything. Zeek's uri keeps the query; ours does not.
func matches(r zeekRow, d segmentDoc) bool {
	if r.method != "?" && r.method != d.HTTP.Request.Method {
		return false
	}
	u := strings.TrimPrefix(d.HTTP.Request.URL, "http://")
	host, path := u, "/"
	if i := strings.IndexByte(u, '/'); i >= 0 {
		host, path = u[:i], u[i:]
	}
	if r.host != "?" && r.host != "-" && !strings.EqualFold(r.host, host) {
		return false
	}
	if d.HTTP.Request.Method == "CONNECT" {
		path = host // authority form: Zeek's uri is the host:port
	}
	if r.uri != "?" {
		zu := zeekUnescape(r.uri)
		p := decodePercent(path)
		if zu != p && !strings.HasPrefix(zu, p+"?") {
			return false
		}
	}
	if r.status != "?" {
		if d.HTTP.Response == nil {
			return r.status == "-" || r.status == "0"
		}
		if r.status != fmt.Sprint(d.HTTP.Response.Status) {
			return false
		}
	}
	return true
}

func TestZeekCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join(corpusDir, "traces.tsv"))
	if err != nil {
		t.Fatalf("the Zeek corpus is read from ../shared: %v", err)
	}
	defer f.Close()
	daemon := testutil.StartFakeDaemon(t)
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	var total, matched, captures int
	seenDiff := map[string]bool{}
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		name, file, ports := c[0], c[1], c[5]
		captures++
		stdout, stderr, err := runCLI(t, nil, "--read", filepath.Join(corpusDir, "pcaps", file),
			"--port", ports, "--service-name", "corpus", "--output", "-",
			"--daemon-address", daemon.Addr, "--id-seed", "1")
		if err != nil {
			t.Errorf("%s: exit with error: %v\n%s", name, err, stderr)
			continue
		}
		if _, err := os.Stat(filepath.Join(corpusDir, "expected", name+".tsv")); err != nil {
			continue
		}
		docs := parseLines(t, stdout)
		used := make([]bool, len(docs))
		for i, r := range readZeekRows(t, name) {
			total++
			key := fmt.Sprintf("%s:%d", name, i)
			found := false
			for j, d := range docs {
				if !used[j] && matches(r, d) {
					used[j], found = true, true
					break
				}
			}
			_, known := corpusDifferences[key]
			switch {
			case found && known:
				t.Errorf("%s now matches Zeek (%+v): remove it from corpusDifferences", key, r)
			case found:
				matched++
			case known:
				seenDiff[key] = true
			default:
				t.Errorf("%s: no segment matches Zeek's row %+v; segments: %s", key, r, stdout)
			}
		}
	}
	for key := range corpusDifferences {
		if !seenDiff[key] && !t.Failed() {
			t.Errorf("corpusDifferences has %s, which the corpus does not produce", key)
		}
	}
	if captures != 49 {
		t.Errorf("replayed %d captures, want 49", captures)
	}
	rate := float64(matched) / float64(total)
	t.Logf("Zeek rows with a method: %d, matched: %d (%.1f%%), documented differences: %d",
		total, matched, 100*rate, len(corpusDifferences))
	if rate < 0.95 {
		t.Errorf("match rate %.1f%% is below 95%%", 100*rate)
	}
	if _, bad := daemon.Wait(1<<30, 200*time.Millisecond); len(bad) > 0 {
		t.Errorf("the daemon rejected %d datagrams: %v", len(bad), bad[0])
	}
}
