package emitter

import (
	"bytes"
	"testing"
	"time"
)

func TestPrinter(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b)
	s := segment("http://shop.test/cart")
	s.Start = time.Date(2026, 11, 23, 21, 38, 29, 554544000, time.UTC)
	s.End = s.Start.Add(3739 * time.Microsecond)
	s.ContentLength = 987
	p.Emit(s)
	s.HasResponse, s.Outcome, s.ContentLength = false, "reset", -1
	p.Emit(s)
	s.Outcome, s.InProgress = "", true
	p.Emit(s)
	want := "21:38:29.554544 192.0.2.2 GET shop.test/cart 200 3.739ms 987B svc\n" +
		"21:38:29.554544 192.0.2.2 GET shop.test/cart -/reset 3.739ms - svc\n" +
		"21:38:29.554544 192.0.2.2 GET shop.test/cart -/in_progress - - svc\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
