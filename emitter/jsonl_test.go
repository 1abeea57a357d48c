package emitter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// flakyWriter writes at most allow bytes of each call that is listed in
// fail (by its index, from 0), then fails it; other calls succeed.
type flakyWriter struct {
	bytes.Buffer
	calls int
	fail  map[int]int
}

var errFull = errors.New("no space left on device")

func (w *flakyWriter) Write(p []byte) (int, error) {
	call := w.calls
	w.calls++
	if allow, ok := w.fail[call]; ok {
		n := min(allow, len(p))
		w.Buffer.Write(p[:n])
		return n, errFull
	}
	return w.Buffer.Write(p)
}

// decodeLines returns the URLs of the lines that are whole documents and
// how many lines are not.
func decodeLines(t *testing.T, s string) (urls []string, bad int) {
	t.Helper()
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		var doc struct {
			HTTP struct {
				Request struct{ URL string }
			}
		}
		if json.Unmarshal([]byte(line), &doc) != nil {
			bad++
			continue
		}
		urls = append(urls, doc.HTTP.Request.URL)
	}
	return urls, bad
}

func emitN(j *JSONLines, from, n int) {
	for i := from; i < from+n; i++ {
		j.Emit(segment(fmt.Sprintf("http://h/%d", i)))
	}
}

func TestJSONLinesFailedWriteLosesItsSegmentsOnly(t *testing.T) {
	// Write 0 fails outright; write 1 fails a little way into its second
	// line, which leaves that line torn in the file.
	line := len(segment("http://h/0").AppendJSON(nil)) + 1
	w := &flakyWriter{fail: map[int]int{0: 0, 1: line + 10}}
	j := NewJSONLines(w)
	emitN(j, 0, 3)
	if err := j.Flush(); !errors.Is(err, errFull) {
		t.Fatalf("flush into a full disk: %v", err)
	}
	emitN(j, 3, 3)
	if err := j.Flush(); !errors.Is(err, errFull) {
		t.Fatalf("second flush: %v", err)
	}
	emitN(j, 6, 2)
	if err := j.Flush(); err != nil {
		t.Fatalf("the disk has room again: %v", err)
	}
	// Lost: the three of write 0, and two of write 1 (its first line got
	// through).
	if written, lost, err := j.Counts(); written != 3 || lost != 5 || !errors.Is(err, errFull) {
		t.Errorf("written %d lost %d err %v, want 3, 5, %v", written, lost, err, errFull)
	}
	urls, bad := decodeLines(t, w.String())
	if want := []string{"http://h/3", "http://h/6", "http://h/7"}; fmt.Sprint(urls) != fmt.Sprint(want) || bad != 1 {
		t.Errorf("the file holds %v and %d bad lines, want %v and the one torn line\n%s", urls, bad, want, w.String())
	}
}

func TestJSONLinesWritesWithoutFlushPastItsBuffer(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONLines(&b)
	n := 0
	for b.Len() == 0 {
		emitN(j, n, 1)
		if n++; n > flushAt {
			t.Fatal("nothing written without Flush")
		}
	}
	if urls, bad := decodeLines(t, b.String()); len(urls) != n || bad != 0 || j.Written != uint64(n) {
		t.Errorf("after %d segments: %d lines written, %d bad, Written %d", n, len(urls), bad, j.Written)
	}
}

func TestJSONLinesRedirect(t *testing.T) {
	var old, reopened bytes.Buffer
	j := NewJSONLines(&old)
	emitN(j, 0, 2)
	if err := j.Redirect(&reopened); err != nil {
		t.Fatal(err)
	}
	emitN(j, 2, 1)
	j.Flush()
	a, _ := decodeLines(t, old.String())
	b, _ := decodeLines(t, reopened.String())
	if fmt.Sprint(a) != "[http://h/0 http://h/1]" || fmt.Sprint(b) != "[http://h/2]" {
		t.Errorf("old file %v, reopened %v", a, b)
	}
	// A torn line in the old file does not leave a newline for the new one.
	w := &flakyWriter{fail: map[int]int{0: 5}}
	j = NewJSONLines(w)
	emitN(j, 0, 1)
	if err := j.Redirect(&reopened); err == nil {
		t.Fatal("the old file's failed write was not reported")
	}
	reopened.Reset()
	emitN(j, 1, 1)
	j.Flush()
	if urls, bad := decodeLines(t, reopened.String()); fmt.Sprint(urls) != "[http://h/1]" || bad != 0 {
		t.Errorf("reopened file %q", reopened.String())
	}
}

func TestJSONLinesEmitDoesNotAllocate(t *testing.T) {
	var b bytes.Buffer
	b.Grow(2 << 20)
	j := NewJSONLines(&b)
	s := segment("http://h/a")
	j.Emit(s)
	j.Flush()
	if a := testing.AllocsPerRun(1000, func() {
		j.Emit(s)
		if b.Len() > 1<<20 {
			b.Reset()
		}
	}); a != 0 {
		t.Errorf("Emit: %v allocations", a)
	}
}
