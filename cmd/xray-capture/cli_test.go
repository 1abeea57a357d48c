package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// runCLI runs the real command, as a user would, with env as the environment.
func runCLI(t testing.TB, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(&out, &errb, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// segmentDoc is the part of a segment document the tests read back.
type segmentDoc struct {
	Name      string  `json:"name"`
	ID        string  `json:"id"`
	TraceID   string  `json:"trace_id"`
	ParentID  string  `json:"parent_id"`
	StartTime float64 `json:"start_time"`
	EndTime   float64 `json:"end_time"`
	HTTP      struct {
		Request struct {
			Method        string `json:"method"`
			URL           string `json:"url"`
			UserAgent     string `json:"user_agent"`
			ClientIP      string `json:"client_ip"`
			XForwardedFor bool   `json:"x_forwarded_for"`
		} `json:"request"`
		Response *struct {
			Status        int    `json:"status"`
			ContentLength *int64 `json:"content_length"`
		} `json:"response"`
	} `json:"http"`
	Error       bool           `json:"error"`
	Throttle    bool           `json:"throttle"`
	Fault       bool           `json:"fault"`
	Annotations map[string]any `json:"annotations"`
}

func parseLines(t *testing.T, s string) []segmentDoc {
	t.Helper()
	var docs []segmentDoc
	for _, line := range bytes.Split([]byte(s), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var d segmentDoc
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("output line is not a segment: %v\n%s", err, line)
		}
		docs = append(docs, d)
	}
	return docs
}
