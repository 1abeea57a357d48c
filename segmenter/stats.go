package segmenter

import (
	"reflect"
	"slices"
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
	// SyncStats; in Gauges, not in Counters).
	OpenConnections uint64
	Midstream       uint64 // connections picked up without their SYN
	ConnTableFull   uint64 // connections evicted (the oldest) to make room at the bound
	IdleClosed      uint64 // connections closed for idleness
	// HeaderEvictions: partial header blocks of the oldest connections
	// dropped to make room in the parsers' buffer budget.
	HeaderEvictions uint64
	Upgraded        uint64 // connections that switched protocol (101, CONNECT), no longer parsed
	TunnelsHTTP     uint64 // CONNECT tunnels carrying plain HTTP, parsed
	// ReusedTuples: connections ended by a client SYN with a new initial
	// sequence number on their four-tuple (their own end was not captured).
	ReusedTuples uint64
	// RepeatedSYNs: client SYNs with another initial sequence number on a
	// four-tuple already tracked; only one the server answers counts.
	RepeatedSYNs uint64
	// RemoteServer: packets of connections from a client here to a server
	// elsewhere (Config.Servers: another node's pod), not tracked: the
	// server's own agent traces them.
	RemoteServer uint64
	// AfterEnd: data packets of a connection already ended by FIN or RST
	// (retransmissions captured late), not taken for a new connection.
	AfterEnd uint64

	Requests      uint64 // request header blocks parsed
	Responses     uint64 // final responses parsed
	Informational uint64 // 1xx responses other than 101
	Segments      uint64 // segments handed to the sink
	GapSegments   uint64 // of which carry capture_gap

	OrphanReset   uint64 // requests unanswered when the connection was reset
	OrphanClosed  uint64 // ... when the server closed it
	OrphanTimeout uint64 // ... within the response timeout

	// Sampling: every request is one of these four.
	SampledByHeader  uint64 // Sampled=1 in X-Amzn-Trace-Id, or traceparent flag 01 (xray.TraceContext)
	SampledByRule    uint64 // sampled by the rules (all, with sampling off)
	NotSampledHeader uint64 // Sampled=0 in X-Amzn-Trace-Id, or traceparent flag 00
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
	// Resume after a loss (docs/pairing.md): anchors found, exchanges
	// released once confirmed, exchanges dropped unconfirmed.
	ResyncAnchors, ResyncConfirmed, ResyncUnconfirmed uint64
	// InFlightAtEnd: requests still waiting when the input ended, sent as
	// in-progress segments (when sampled).
	InFlightAtEnd uint64

	RequestParseErrors  [httpparse.NumReasons]uint64
	ResponseParseErrors [httpparse.NumReasons]uint64
	// Start lines read leniently, by quirk (docs/http-parsing.md).
	RequestQuirks, ResponseQuirks QuirkCounts

	// Reassembly, copied from the Budget by Tracker.SyncStats.
	OutOfOrder, Retransmitted, ReassemblyOverflows, GapBytes uint64
	// Held: in-order server segments that waited at the ACK gate.
	Held uint64
	// Holes declared lost after waiting MaxHoleAge, or MaxHolePackets.
	HolesLostAge, HolesLostPackets uint64
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

// The table of counters: one row per field of Stats, which names it on the
// summary line (Counters), names and explains it as a Prometheus metric,
// and says whether it counts something not traced. Adding a counter is a
// field of Stats and a row here; TestTableHasEveryField checks that no
// field is left out. The rows' order is that of Counters and of the drops
// on the summary line.
//
// metric is the Prometheus name after the xray_capture_ prefix, with its
// label in braces when the metric has several rows. An array field (one
// counter per httpparse.Reason) gives a counter per reason: its name is
// the row's plus the reason, and its metric has a label reason as well.
var table = []row{
	{"Packets", "packets", "packets_total", "Frames read from the capture source.", counter},
	{"Bytes", "bytes", "bytes_total", "Bytes of those frames, as on the wire.", counter},
	{"NotTCP", "not_tcp", "frames_not_traced_total{reason=not_tcp}", helpNotTraced, counter},
	{"Fragments", "ip_fragments", "frames_not_traced_total{reason=ip_fragment}", helpNotTraced, drop},
	{"Malformed", "malformed_frames", "frames_not_traced_total{reason=malformed}", helpNotTraced, drop},
	{"UnknownLink", "unknown_link_type", "frames_not_traced_total{reason=unknown_link_type}", helpNotTraced, drop},
	{"OtherPort", "other_port", "frames_not_traced_total{reason=other_port}", helpNotTraced, counter},
	{"Connections", "connections", "connections_total", "TCP connections tracked.", counter},
	{"Midstream", "midstream_connections", "connections_midstream_total", "TCP connections picked up without their SYN.", counter},
	{"ConnTableFull", "connections_evicted", "evictions_total{bound=connections}", helpEvictions, drop},
	{"IdleClosed", "idle_closed", "evictions_total{bound=idle_timeout}", helpEvictions, counter},
	{"HeaderEvictions", "header_buffers_evicted", "evictions_total{bound=header_buffer}", helpEvictions, drop},
	{"Upgraded", "upgraded", "connections_upgraded_total", "Connections that switched protocol (101, or a CONNECT tunnel carrying TLS or another protocol), no longer parsed.", counter},
	{"TunnelsHTTP", "connect_tunnels_http", "connect_tunnels_http_total", "CONNECT tunnels that carry plain HTTP, whose exchanges are traced (annotated connect_tunnel).", counter},
	{"ReusedTuples", "reused_tuples", "connections_reused_tuple_total", "Connections ended by a client SYN with a new initial sequence number on their four-tuple.", counter},
	{"RepeatedSYNs", "repeated_syns", "repeated_syns_total", "Client SYNs with another initial sequence number on a four-tuple already tracked (retries, scanners, floods); the handshake the server answers is the one that counts.", counter},
	{"RemoteServer", "remote_server", "frames_not_traced_total{reason=remote_server}", helpNotTraced, counter},
	{"AfterEnd", "packets_after_end", "packets_after_end_total", "Data packets of a connection already ended by FIN or RST (retransmissions captured late), recognised by their sequence numbers and not taken for a new connection.", counter},
	{"Requests", "requests", "requests_total", "HTTP requests parsed.", counter},
	{"Responses", "responses", "responses_total", "Final HTTP responses parsed.", counter},
	{"Informational", "informational_responses", "informational_responses_total", "1xx HTTP responses other than 101 parsed.", counter},
	{"Segments", "segments", "segments_total", "Segments built (sampled exchanges and unanswered requests).", counter},
	{"GapSegments", "segments_with_capture_gap", "segments_with_capture_gap_total", "Segments built across lost stream bytes (annotated capture_gap).", counter},
	{"OrphanReset", "orphan_reset", "unanswered_requests_total{outcome=reset}", helpUnanswered, counter},
	{"OrphanClosed", "orphan_closed", "unanswered_requests_total{outcome=closed}", helpUnanswered, counter},
	{"OrphanTimeout", "orphan_timeout", "unanswered_requests_total{outcome=timeout}", helpUnanswered, counter},
	{"SampledByHeader", "sampled_by_header", "sampled_total{by=header}", helpSampled, counter},
	{"SampledByRule", "sampled_by_rule", "sampled_total{by=rule}", helpSampled, counter},
	{"NotSampledHeader", "not_sampled_by_header", "not_sampled_total{by=header}", helpNotSampled, counter},
	{"NotSampledRule", "not_sampled_by_rule", "not_sampled_total{by=rule}", helpNotSampled, counter},
	{"UnpairableRequests", "unpairable_requests", "unpairable_requests_total", "Requests never offered to the sampler because they could not become a segment.", counter},
	{"UnpairedRequests", "unpaired_requests", "unpaired_total{reason=request_after_loss}", helpUnpaired, drop},
	{"UnpairedResponses", "unpaired_responses", "unpaired_total{reason=response_without_request}", helpUnpaired, drop},
	{"ResponseBeforeRequest", "response_before_request", "unpaired_total{reason=response_before_request}", helpUnpaired, drop},
	{"LateResponses", "late_responses", "unpaired_total{reason=late_response}", helpUnpaired, drop},
	{"PendingOverflow", "pending_overflow", "evictions_total{bound=pending_requests}", helpEvictions, drop},
	{"ResyncAnchors", "resync_anchors", "resync_total{step=anchored}", helpResync, counter},
	{"ResyncConfirmed", "resync_confirmed", "resync_total{step=confirmed}", helpResync, counter},
	{"ResyncUnconfirmed", "resync_unconfirmed", "unpaired_total{reason=resync_unconfirmed}", helpUnpaired, drop},
	{"InFlightAtEnd", "in_flight_at_end", "unanswered_requests_total{outcome=in_progress}", helpUnanswered, counter},
	{"OutOfOrder", "out_of_order_segments", "reassembly_segments_total{kind=out_of_order}", helpReassembly, counter},
	{"Retransmitted", "retransmitted_segments", "reassembly_segments_total{kind=retransmitted}", helpReassembly, counter},
	{"ReassemblyOverflows", "reassembly_overflows", "evictions_total{bound=reassembly_buffer}", helpEvictions, drop},
	{"GapBytes", "gap_bytes", "reassembly_gap_bytes_total", "Stream bytes declared lost (capture loss or bounds).", drop},
	{"Held", "held_segments", "reassembly_segments_total{kind=held}", helpReassembly, counter},
	{"HolesLostAge", "holes_lost_age", "reassembly_holes_lost_total{bound=age}", helpHolesLost, counter},
	{"HolesLostPackets", "holes_lost_packets", "reassembly_holes_lost_total{bound=packets}", helpHolesLost, counter},
	{"RequestParseErrors", "request_parse_error_", "parse_errors_total{direction=request}", helpParseErrors, drop},
	{"ResponseParseErrors", "response_parse_error_", "parse_errors_total{direction=response}", helpParseErrors, drop},
	{"RequestQuirks", "request_quirk_", "http_quirks_total{direction=request}", helpQuirks, counter},
	{"ResponseQuirks", "response_quirk_", "http_quirks_total{direction=response}", helpQuirks, counter},
	{"OpenConnections", "open_connections", "connections_open", "TCP connections tracked now.", gauge},
}

// The help of the metrics that have several rows.
const (
	helpNotTraced   = "Frames not traced, by reason."
	helpEvictions   = "State given up because a bound was reached, by bound."
	helpUnanswered  = "Requests without a (complete) response, by outcome; in_progress: still waiting when the capture stopped."
	helpSampled     = "Requests sampled, by what decided."
	helpNotSampled  = "Requests not sampled, by what decided."
	helpUnpaired    = "Requests or responses not paired, by reason."
	helpReassembly  = "TCP segments that needed reassembly work, by kind."
	helpParseErrors = "HTTP parse errors, by direction and reason."
	helpHolesLost   = "Holes in a stream declared lost after waiting for the bytes, by the bound that ended the wait (capture time or packets of the connection)."
	helpQuirks      = "Requests and responses whose start line departed from the RFC grammar and was read as servers and clients read it (docs/http-parsing.md), by direction and quirk."
	helpResync      = "Connections that lost step and resumed pairing at an ACK anchor, by step (anchored; exchanges confirmed)."
)

type row struct {
	field, name, metric, help string
	kind                      kind
}

type kind uint8

const (
	counter kind = iota
	drop         // a counter of something not traced
	gauge        // a level, not a count: in Gauges, not in Counters
)

// Counter is one value of Stats, with its names.
type Counter struct {
	Name  string // on the summary line: "ip_fragments"
	Value uint64
	// Metric is the Prometheus name after the xray_capture_ prefix:
	// "frames_not_traced_total"; Help explains it. Rows of one metric
	// differ in their LabelValues, one for each of LabelNames.
	Metric, Help string
	LabelNames   []string // shared with every Counter of the row: do not modify
	LabelValues  []string // ditto
	Drop         bool     // counts something not traced
	Gauge        bool     // a level, not a count

	field, index int // in Stats; index into an array field, or -1
}

// counters is the table expanded, once: the gauges after the counters.
var counters, numCounters = expand(table)

func expand(t []row) ([]Counter, int) {
	st := reflect.TypeFor[Stats]()
	var cs, gauges []Counter
	for _, r := range t {
		f, ok := st.FieldByName(r.field)
		if !ok {
			panic("segmenter: the counter table names Stats." + r.field + ", which does not exist")
		}
		metric, label, _ := strings.Cut(strings.TrimSuffix(r.metric, "}"), "{")
		c := Counter{Name: r.name, Metric: metric, Help: r.help, Drop: r.kind == drop, Gauge: r.kind == gauge,
			field: f.Index[0], index: -1}
		if name, value, ok := strings.Cut(label, "="); ok {
			c.LabelNames, c.LabelValues = []string{name}, []string{value}
		}
		if f.Type.Kind() != reflect.Array {
			if r.kind == gauge {
				gauges = append(gauges, c)
			} else {
				cs = append(cs, c)
			}
			continue
		}
		// One per httpparse.Reason (0 is no error), or per httpparse.Quirk.
		label, first, valueOf := "reason", 1, func(i int) string { return httpparse.Reason(i).String() }
		if f.Type == reflect.TypeFor[QuirkCounts]() {
			label, first, valueOf = "quirk", 0, func(i int) string { return httpparse.QuirkAt(i).String() }
		}
		names := slices.Concat(c.LabelNames, []string{label})
		for i := first; i < f.Type.Len(); i++ {
			value := valueOf(i)
			e := c
			e.Name, e.index = r.name+value, i
			e.LabelNames, e.LabelValues = names, slices.Concat(c.LabelValues, []string{value})
			cs = append(cs, e)
		}
	}
	return append(cs, gauges...), len(cs)
}

// Counters lists every counter, with its value and names, in the table's
// order; not the gauges.
func (s *Stats) Counters() []Counter { return s.values(counters[:numCounters]) }

// Gauges lists the values of Stats that are levels, not counts
// (OpenConnections).
func (s *Stats) Gauges() []Counter { return s.values(counters[numCounters:]) }

func (s *Stats) values(descs []Counter) []Counter {
	v := reflect.ValueOf(s).Elem()
	out := make([]Counter, len(descs))
	for i, c := range descs {
		f := v.Field(c.field)
		if c.index >= 0 {
			f = f.Index(c.index)
		}
		c.Value = f.Uint()
		out[i] = c
	}
	return out
}
