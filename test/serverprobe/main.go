// Command serverprobe sends odd HTTP/1.x request lines to real servers and
// prints what each answered, as the table in docs/http-parsing.md. It is run
// by run.sh, which starts the servers; "serverprobe serve-go ADDR" is the Go
// net/http server it probes.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

// cases are the request lines; each is sent with "Host: x" and an empty
// line after it (unless noHeaders), then a well-formed GET, pipelined, so
// the answers also show whether the server went on reading the connection.
var cases = []struct {
	name, line string
	noHeaders  bool
}{
	{"baseline", "GET / HTTP/1.1", false},
	{"extension method", "CCM_POST / HTTP/1.1", false},
	{"extension method with dash", "M-SEARCH * HTTP/1.1", false},
	{"lowercase method", "get / HTTP/1.1", false},
	{"method with digit and dot", "X.1 / HTTP/1.1", false},
	{"OPTIONS *", "OPTIONS * HTTP/1.1", false},
	{"CONNECT authority", "CONNECT example.com:443 HTTP/1.1", false},
	{"empty target", "GET  HTTP/1.1", false},
	{"missing target", "GET HTTP/1.1", false},
	{"runs of spaces", "GET  /  HTTP/1.1", false},
	{"tab separator", "GET\t/\tHTTP/1.1", false},
	{"trailing space", "GET / HTTP/1.1 ", false},
	{"leading space", " GET / HTTP/1.1", false},
	{"space in target", "GET /a b HTTP/1.1", false},
	{"lowercase version", "GET / http/1.1", false},
	{"HTTP/1.2", "GET / HTTP/1.2", false},
	{"HTTP/2.0", "GET / HTTP/2.0", false},
	{"other protocol name", "GET / FOO/1.1", false},
	{"trailing junk", "GET / HTTP/1.1 x", false},
	{"HTTP/0.9 GET", "GET /", true},
	{"HTTP/0.9 shape, POST", "POST /", true},
	{"HTTP/0.9 shape, DELETE", "DELETE /x", true},
	{"method alone", "GET", true},
	{"binary", "\x16\x03\x01\x00\x05hello", true},
}

var statusRE = regexp.MustCompile(`(?m)^HTTP/\d\.\d \d{3}`)

func probe(addr, line string, noHeaders bool) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	req := line + "\r\n"
	if !noHeaders {
		req += "Host: x\r\n\r\n"
	}
	req += "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	c.Write([]byte(req))
	c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	got, err := io.ReadAll(bufio.NewReader(c))
	end := "closed"
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		end = "open"
	}
	if len(got) == 0 {
		return "no answer, " + end
	}
	var codes []string
	if !bytes.HasPrefix(got, []byte("HTTP/")) {
		codes = append(codes, "bare body")
	}
	for _, m := range statusRE.FindAll(got, -1) {
		codes = append(codes, string(m[9:]))
	}
	return strings.Join(codes, " + ") + ", " + end
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "serve-go" {
		http.ListenAndServe(os.Args[2], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}))
		return
	}
	// Args: name=addr for each server.
	var names, addrs []string
	for _, a := range os.Args[1:] {
		n, ad, _ := strings.Cut(a, "=")
		names, addrs = append(names, n), append(addrs, ad)
	}
	fmt.Printf("| case | line | %s |\n|---|---|%s\n", strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	for _, tc := range cases {
		row := []string{tc.name, "`" + strings.NewReplacer("\t", `\t`, "\x16", `\x16`, "\x03", `\x03`, "\x01", `\x01`, "\x00", `\x00`, "\x05", `\x05`).Replace(tc.line) + "`"}
		for _, a := range addrs {
			row = append(row, probe(a, tc.line, tc.noHeaders))
		}
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
	}
}
