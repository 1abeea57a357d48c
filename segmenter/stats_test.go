package segmenter

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fillStats gives every value of s a distinct number (not the reason
// arrays' element 0, which counts no reason) and returns them.
func fillStats(s *Stats) []uint64 {
	var set []uint64
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Array {
			f.SetUint(uint64(100 + len(set)))
			set = append(set, f.Uint())
			continue
		}
		first := 1
		if f.Type() == reflect.TypeFor[QuirkCounts]() {
			first = 0 // one per quirk bit: 0 is a quirk too
		}
		for j := first; j < f.Len(); j++ {
			f.Index(j).SetUint(uint64(100 + len(set)))
			set = append(set, f.Index(j).Uint())
		}
	}
	return set
}

// TestTableHasEveryField: every field of Stats is a row of the table, and
// Counters and Gauges between them give every value exactly once.
func TestTableHasEveryField(t *testing.T) {
	rows := map[string]int{}
	for _, r := range table {
		rows[r.field]++
	}
	st := reflect.TypeFor[Stats]()
	for i := range st.NumField() {
		if name := st.Field(i).Name; rows[name] != 1 {
			t.Errorf("Stats.%s is in the counter table %d times, want once", name, rows[name])
		}
	}
	if len(rows) != st.NumField() {
		t.Errorf("the table has rows for %d fields, Stats has %d", len(rows), st.NumField())
	}

	var s Stats
	want := fillStats(&s)
	var got []uint64
	for _, c := range slices.Concat(s.Counters(), s.Gauges()) {
		got = append(got, c.Value)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Counters and Gauges give the values\n%v\nwant every value of Stats once:\n%v", got, want)
	}
	if g := s.Gauges(); len(g) != 1 || g[0].Value != s.OpenConnections {
		t.Errorf("Gauges: %+v, want OpenConnections alone", g)
	}
}

// TestCounterNames: a name on the summary line, and a metric with its
// label values, name one counter each; rows of one metric agree on its help
// and label names, as Prometheus requires.
func TestCounterNames(t *testing.T) {
	var s Stats
	names := map[string]bool{}
	series := map[string]bool{}
	type family struct {
		help   string
		labels []string
	}
	families := map[string]family{}
	for _, c := range slices.Concat(s.Counters(), s.Gauges()) {
		if c.Name == "" || c.Metric == "" || c.Help == "" {
			t.Errorf("%+v: a name, a metric and a help are required", c)
		}
		if names[c.Name] {
			t.Errorf("%s: two counters of that name", c.Name)
		}
		names[c.Name] = true
		if len(c.LabelNames) != len(c.LabelValues) {
			t.Errorf("%s: labels %v, values %v", c.Name, c.LabelNames, c.LabelValues)
		}
		key := c.Metric + "{" + strings.Join(c.LabelValues, ",") + "}"
		if series[key] {
			t.Errorf("%s: two counters are %s", c.Name, key)
		}
		series[key] = true
		if c.Gauge == strings.HasSuffix(c.Metric, "_total") {
			t.Errorf("%s: metric %s; a counter's name ends in _total, a gauge's does not", c.Name, c.Metric)
		}
		f, ok := families[c.Metric]
		if !ok {
			families[c.Metric] = family{c.Help, c.LabelNames}
			continue
		}
		if f.help != c.Help || !slices.Equal(f.labels, c.LabelNames) {
			t.Errorf("%s: metric %s with help %q and labels %v; another row has %q and %v",
				c.Name, c.Metric, c.Help, c.LabelNames, f.help, f.labels)
		}
	}
}

// TestDrops: the counters of something not traced, which the summary line
// shows when they are not zero.
func TestDrops(t *testing.T) {
	var drops []string
	var s Stats
	for _, c := range s.Counters() {
		if c.Drop && !strings.Contains(c.Name, "_parse_error_") {
			drops = append(drops, c.Name)
		}
	}
	want := []string{"ip_fragments", "malformed_frames", "unknown_link_type", "connections_evicted",
		"header_buffers_evicted", "unpaired_requests", "unpaired_responses", "response_before_request",
		"late_responses", "pending_overflow", "resync_unconfirmed", "reassembly_overflows", "gap_bytes"}
	if !slices.Equal(drops, want) {
		t.Errorf("drops %v\nwant %v", drops, want)
	}
	for _, c := range s.Counters() {
		if strings.Contains(c.Name, "_parse_error_") && !c.Drop {
			t.Errorf("%s is not a drop", c.Name)
		}
	}
}
