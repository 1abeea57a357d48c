package segmenter

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/xray"
)

// outcomeInProgress, given to emit as the outcome, sends an in-progress
// segment: the capture stopped before the exchange ended. It is not an
// annotation.
const outcomeInProgress = "in_progress"

// emit builds the segment for request r and hands it to the sink. resp is
// nil for a request that got no answer (or no answer yet); outcome is the
// capture_outcome annotation ("" for a complete exchange), or
// outcomeInProgress.
func (t *Tracker) emit(c *conn, r *pendingReq, resp *httpparse.Message, end time.Time, outcome string) {
	if r.deferSample {
		t.sampleLate(r)
	}
	if !r.sampled && !t.cfg.ViewUnsampled {
		return // decided and counted when the request came
	}
	s := &t.seg
	s.NotSampled = !r.sampled
	s.SamplingRule = r.rule
	s.Name = r.get(r.name)
	if t.cfg.Resources != nil {
		// Looked up at the end: a pod deleted meanwhile leaves the
		// plugins' facts only.
		aws, origin, ok := t.cfg.Resources.AWSOf(c.serverIP, c.serverPort)
		s.Resource, s.Origin = aws, t.cfg.Origin
		if ok {
			s.Origin = origin
		}
	}
	// One read for both ids; the buffer lives in the Tracker so that
	// passing it through the xray.IDGen interface does not allocate.
	t.cfg.IDs.Read(t.random[:])
	xray.NewSegmentID(t.random[:8], &s.ID)
	if root := r.get(r.root); len(root) > 0 {
		copy(s.TraceID[:], root)
	} else {
		xray.NewTraceID(t.random[8:], r.start, &s.TraceID)
	}
	s.ParentID = r.get(r.parent)
	s.TraceState = r.get(r.traceState)
	s.Peer = netip.AddrPortFrom(c.clientIP.Unmap(), c.clientPort)
	s.Start, s.End = r.start, end
	if end.Before(r.start) {
		s.End = r.start // packet clocks can step back; X-Ray wants end ≥ start
	}
	s.Method = r.get(r.method)
	t.urlBuf = appendURL(t.urlBuf[:0], r, c)
	s.URL = t.urlBuf
	s.UserAgent, s.HasUserAgent = r.get(r.ua), r.hasUA
	s.XForwardedFor = false
	if xff := r.get(r.xff); r.hasXFF && len(xff) > 0 {
		s.ClientIP, s.XForwardedFor = xff, true
	} else {
		s.ClientIP = c.clientAddr()
	}
	s.InProgress = outcome == outcomeInProgress
	if s.InProgress {
		outcome = ""
	}
	if resp != nil && s.InProgress && resp.StatusLine == httpparse.StatusLineNone {
		// A bare answer is one only once the connection ends without a
		// status line in it; it had not.
		resp = nil
	}
	s.HasResponse = resp != nil
	s.Error, s.Throttle, s.Fault = false, false, false
	s.StatusLine = ""
	s.ContentLength = -1
	if resp != nil {
		s.Status = resp.Status
		switch {
		case resp.ContentLength >= 0:
			s.ContentLength = resp.ContentLength
		case s.InProgress:
			// The body had not ended: its length is not known.
		case resp.Chunked || resp.CloseDelim:
			s.ContentLength = resp.BodyBytes
		}
		switch {
		case resp.Status == 429:
			s.Error, s.Throttle = true, true
		case resp.Status >= 400 && resp.Status < 500:
			s.Error = true
		case resp.Status >= 500 && resp.Status < 600:
			s.Fault = true
		}
		if a, fault := statusLineAnnotation(resp, r); a != "" {
			s.StatusLine, s.Fault = a, fault
		}
	} else {
		s.Status = 0
		// Unanswered is the app's fault; not answered yet is nobody's.
		s.Fault = !s.InProgress
	}
	s.Outcome = outcome
	s.Resync = r.resync
	s.Tunnelled = r.tunnelled
	s.CaptureGap = r.gap || resp != nil && resp.Gap
	if s.NotSampled {
		t.cfg.Sink.Emit(s) // a view's: not a segment, nothing to count
		return
	}
	if s.CaptureGap {
		t.Stats.GapSegments++
	}
	switch outcome {
	case "reset":
		if resp == nil {
			t.Stats.OrphanReset++
		}
	case "closed":
		if resp == nil {
			t.Stats.OrphanClosed++
		}
	case "timeout":
		t.Stats.OrphanTimeout++
	}
	t.Stats.Segments++
	t.cfg.Sink.Emit(s)
}

// clientAddr is the client's address as text, formatted once per
// connection: a keep-alive connection carries many requests.
func (c *conn) clientAddr() []byte {
	if c.nClientText == 0 {
		b := c.clientIP.Unmap().AppendTo(c.clientText[:0])
		if len(b) > len(c.clientText) {
			return b // a zone, which no captured address has
		}
		c.nClientText = uint8(len(b))
	}
	return c.clientText[:c.nClientText]
}

// appendURL builds http.request.url: "http://" + Host as sent (the server's
// address when there is none) + the path as on the wire, without the query.
func appendURL(dst []byte, r *pendingReq, c *conn) []byte {
	target := httpparse.PathOf(r.get(r.target))
	switch {
	case r.expect.Connect:
		dst = append(dst, "http://"...)
		dst = append(dst, target...)
	case hasScheme(target):
		dst = append(dst, target...) // absolute form, as proxies receive it
	default:
		dst = append(dst, "http://"...)
		if host := r.get(r.host); r.hasHost && len(host) > 0 {
			dst = append(dst, host...)
		} else {
			dst = netip.AddrPortFrom(c.serverIP.Unmap(), c.serverPort).AppendTo(dst)
		}
		if len(target) == 0 || target[0] != '/' {
			dst = append(dst, '/') // "*" of OPTIONS, or garbage
		}
		dst = append(dst, target...)
	}
	return xray.CutUTF8(dst, maxURLBytes)
}

// firstForwarded returns the first X-Forwarded-For entry, trimmed.
func firstForwarded(v []byte) []byte {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return httpparse.TrimOWS(v)
}

func hasScheme(t []byte) bool {
	return len(t) > 7 && (bytes.EqualFold(t[:7], []byte("http://")) ||
		len(t) > 8 && bytes.EqualFold(t[:8], []byte("https://")))
}
