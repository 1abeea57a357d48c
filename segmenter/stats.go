package segmenter

import (
	"reflect"
	"strings"

	"github.com/xray-capture/xray-capture/httpparse"
)

// Stats counts everything the Tracker saw and everything it gave up, each
// under a named reason. Fields are written by the Tracker's goroutine only.
type Stats struct {
	Packets     uint64
	Bytes       uint64
	NotTCP      uint64 // frames without TCP (ARP, UDP, ...)
	Fragments   uint64 // IP fragments, not reassembled
	Malformed   uint64 // frames too short or inconsistent to decode
	UnknownLink uint64 // frames of a link type the decoder does not know
	OtherPort   uint64 // TCP segments to or from none of the configured ports

	Connections uint64 // connections tracked
	// OpenConnections is how many are tracked now (a gauge, set by
	// SyncStats; not in Counters).
	OpenConnections uint64
	Midstream       uint64 // connections picked up without their SYN
	ConnTableFull   uint64 // connections evicted (the oldest) to make room at the bound
	IdleClosed      uint64 // connections closed for idleness
	// HeaderEvictions: partial header blocks of the oldest connections
	// dropped to make room in the parsers' buffer budget.
	HeaderEvictions uint64
	Upgraded        uint64 // connections that switched protocol (101, CONNECT)
	// ReusedTuples: connections ended by a client SYN with a new initial
	// sequence number on their four-tuple (their own end was not captured).
	ReusedTuples uint64

	Requests      uint64 // request header blocks parsed
	Responses     uint64 // final responses parsed
	Informational uint64 // 1xx responses other than 101
	Segments      uint64 // segments handed to the sink
	GapSegments   uint64 // of which carry capture_gap

	OrphanReset   uint64 // requests unanswered when the connection was reset
	OrphanClosed  uint64 // ... when the server closed it
	OrphanTimeout uint64 // ... within the response timeout

	// Sampling: every request is one of these four.
	SampledByHeader  uint64 // Sampled=1 in X-Amzn-Trace-Id
	SampledByRule    uint64 // sampled by the rules (all, with sampling off)
	NotSampledHeader uint64 // Sampled=0 in X-Amzn-Trace-Id
	NotSampledRule   uint64 // not sampled by the rules
	// UnpairableRequests: requests never offered to the sampler because they
	// could not become a segment (not queued, or queued out of step and
	// never found unanswered).
	UnpairableRequests uint64

	UnpairedRequests      uint64 // requests after a loss of step, not paired
	UnpairedResponses     uint64 // responses with no request to pair with
	ResponseBeforeRequest uint64 // responses sent before the server had the queued request
	LateResponses         uint64 // responses to requests already sent as timeouts
	PendingOverflow       uint64 // requests over the per-connection pending bound
	InFlightAtEnd         uint64 // requests still waiting when the input ended

	RequestParseErrors  [httpparse.NumReasons]uint64
	ResponseParseErrors [httpparse.NumReasons]uint64

	// Reassembly, copied from the Budget when Counters is called.
	OutOfOrder, Retransmitted, ReassemblyOverflows, GapBytes, AckGaps uint64
}

// Add adds every counter (and the OpenConnections gauge) of o to s: the
// totals of several Trackers (--workers). Every field is a uint64 or an
// array of them; a field of another kind panics, so that a new field
// cannot be left out of the sum unnoticed.
func (s *Stats) Add(o *Stats) {
	dst, src := reflect.ValueOf(s).Elem(), reflect.ValueOf(o).Elem()
	for i := range dst.NumField() {
		d, v := dst.Field(i), src.Field(i)
		switch d.Kind() {
		case reflect.Uint64:
			d.SetUint(d.Uint() + v.Uint())
		case reflect.Array:
			for j := range d.Len() {
				d.Index(j).SetUint(d.Index(j).Uint() + v.Index(j).Uint())
			}
		default:
			panic("segmenter.Stats." + dst.Type().Field(i).Name + ": not a counter")
		}
	}
}

// Counter is one named value of Stats.
type Counter struct {
	Name  string
	Value uint64
}

// Counters lists every counter with its name, in a fixed order.
func (s *Stats) Counters() []Counter {
	c := []Counter{
		{"packets", s.Packets}, {"bytes", s.Bytes}, {"not_tcp", s.NotTCP},
		{"ip_fragments", s.Fragments}, {"malformed_frames", s.Malformed},
		{"unknown_link_type", s.UnknownLink}, {"other_port", s.OtherPort},
		{"connections", s.Connections}, {"midstream_connections", s.Midstream},
		{"connections_evicted", s.ConnTableFull}, {"idle_closed", s.IdleClosed},
		{"header_buffers_evicted", s.HeaderEvictions},
		{"upgraded", s.Upgraded}, {"reused_tuples", s.ReusedTuples},
		{"requests", s.Requests}, {"responses", s.Responses},
		{"informational_responses", s.Informational},
		{"segments", s.Segments}, {"segments_with_capture_gap", s.GapSegments},
		{"orphan_reset", s.OrphanReset}, {"orphan_closed", s.OrphanClosed},
		{"orphan_timeout", s.OrphanTimeout},
		{"sampled_by_header", s.SampledByHeader}, {"sampled_by_rule", s.SampledByRule},
		{"not_sampled_by_header", s.NotSampledHeader}, {"not_sampled_by_rule", s.NotSampledRule},
		{"unpairable_requests", s.UnpairableRequests},
		{"unpaired_requests", s.UnpairedRequests}, {"unpaired_responses", s.UnpairedResponses},
		{"response_before_request", s.ResponseBeforeRequest},
		{"late_responses", s.LateResponses}, {"pending_overflow", s.PendingOverflow},
		{"in_flight_at_end", s.InFlightAtEnd},
		{"out_of_order_segments", s.OutOfOrder}, {"retransmitted_segments", s.Retransmitted},
		{"reassembly_overflows", s.ReassemblyOverflows}, {"gap_bytes", s.GapBytes},
		{"ack_gaps", s.AckGaps},
	}
	for r := 1; r < httpparse.NumReasons; r++ {
		c = append(c, Counter{"request_parse_error_" + httpparse.Reason(r).String(), s.RequestParseErrors[r]})
	}
	for r := 1; r < httpparse.NumReasons; r++ {
		c = append(c, Counter{"response_parse_error_" + httpparse.Reason(r).String(), s.ResponseParseErrors[r]})
	}
	return c
}

// dropCounters are the counters that mean something was not traced.
var dropCounters = map[string]bool{
	"ip_fragments": true, "malformed_frames": true, "unknown_link_type": true,
	"connections_evicted": true, "header_buffers_evicted": true, "unpaired_requests": true, "unpaired_responses": true,
	"response_before_request": true, "late_responses": true, "pending_overflow": true,
	"in_flight_at_end": true, "reassembly_overflows": true, "gap_bytes": true,
}

// IsDrop reports whether a counter of that name counts something lost.
func IsDrop(name string) bool {
	if dropCounters[name] {
		return true
	}
	return strings.HasPrefix(name, "request_parse_") || strings.HasPrefix(name, "response_parse_")
}
