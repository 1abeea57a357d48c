package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xray-capture/xray-capture/internal/pipeline"
	"github.com/xray-capture/xray-capture/segmenter"
)

// TestFunnelExportsEveryCounter: every counter of the summary line and
// every gauge of segmenter.Stats is a Prometheus metric of the funnel,
// with its value; the registry checks the funnel's descriptions against
// what it collects.
func TestFunnelExportsEveryCounter(t *testing.T) {
	var st segmenter.Stats
	v := reflect.ValueOf(&st).Elem()
	n := uint64(1)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Array {
			f.SetUint(n)
			n++
			continue
		}
		for j := range f.Len() {
			f.Index(j).SetUint(n)
			n++
		}
	}
	box := &pipeline.Box{}
	box.Publish(0, pipeline.Snapshot{Stats: st})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newFunnel(box))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for _, c := range slices.Concat(st.Counters(), st.Gauges()) {
		var labels []string
		for i, name := range c.LabelNames {
			labels = append(labels, name+"="+c.LabelValues[i])
		}
		key := "xray_capture_" + c.Metric + "{" + strings.Join(labels, ",") + "}"
		if v, ok := got[key]; !ok || v != float64(c.Value) {
			t.Errorf("%s: %s is %v (exported: %t), want %d", c.Name, key, v, ok, c.Value)
		}
	}
	// Kept as they were.
	for _, key := range []string{"xray_capture_frames_not_traced_total{reason=ip_fragment}",
		"xray_capture_parse_errors_total{direction=response,reason=chunk}",
		"xray_capture_evictions_total{bound=pending_requests}", "xray_capture_connections_open{}",
		"xray_capture_kernel_drops_total{}", "xray_capture_ready{}"} {
		if _, ok := got[key]; !ok {
			t.Errorf("%s is not exported", key)
		}
	}
}
