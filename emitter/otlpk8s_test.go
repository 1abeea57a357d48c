package emitter

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xray-capture/xray-capture/xray"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestOTLPKubernetesResource: a pod's spans (Segment.Resource holds its
// aws.eks facts) get a resource of their own with the Kubernetes
// attributes the awsxray exporter turns back into aws.eks, and
// cloud.platform aws_eks; other spans of the same name keep the host's.
func TestOTLPKubernetesResource(t *testing.T) {
	var mu sync.Mutex
	var got []string // one line per resource: its attributes, sorted, and its span count
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(zr)
		var er coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &er); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range er.ResourceSpans {
			var attrs []string
			for _, kv := range rs.Resource.Attributes {
				attrs = append(attrs, kv.Key+"="+kv.Value.GetStringValue())
			}
			sort.Strings(attrs)
			got = append(got, strings.Join(attrs, " ")+" spans="+strconv.Itoa(len(rs.ScopeSpans[0].Spans)))
		}
	}))
	defer srv.Close()
	x, err := NewOTLP(OTLPConfig{URL: srv.URL + "/v1/traces", Resource: []Attribute{
		{"cloud.provider", "aws"}, {"cloud.platform", "aws_ec2"}, {"host.id", "i-0abc"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	sink := x.Sink()
	host, shop, cart, escaped := testSegment(), testSegment(), testSegment(), testSegment()
	shop.Resource = []byte(`"eks":{"cluster_name":"prod","pod":"shop-0","container_id":"abc123","namespace":"store"}`)
	cart.Resource = []byte(`"eks":{"cluster_name":"prod","pod":"cart-7","namespace":"store"}`)
	escaped.Resource = []byte(`"eks":{"cluster_name":"a\u003cb","pod":"odd-0"}`)
	for _, s := range []struct {
		seg *xray.Segment
		n   int
	}{{host, 2}, {shop, 3}, {cart, 1}, {escaped, 1}} {
		for range s.n {
			sink.Emit(s.seg)
		}
	}
	sink.Flush()
	x.Close()
	sort.Strings(got)
	want := []string{
		"cloud.platform=aws_ec2 cloud.provider=aws host.id=i-0abc service.name=shop spans=2",
		"cloud.platform=aws_eks cloud.provider=aws container.id=abc123 host.id=i-0abc k8s.cluster.name=prod k8s.namespace.name=store k8s.pod.name=shop-0 service.name=shop spans=3",
		"cloud.platform=aws_eks cloud.provider=aws host.id=i-0abc k8s.cluster.name=prod k8s.namespace.name=store k8s.pod.name=cart-7 service.name=shop spans=1",
		"cloud.platform=aws_eks cloud.provider=aws host.id=i-0abc k8s.pod.name=odd-0 service.name=shop spans=1",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSpanPeerAddress: network.peer.address is the connection's client,
// which client_ip names too unless a proxy's X-Forwarded-For replaced it.
func TestSpanPeerAddress(t *testing.T) {
	for _, tc := range []struct {
		xff          bool
		client, peer string
	}{{true, "203.0.113.7", "192.0.2.2"}, {false, "192.0.2.2", "192.0.2.2"}} {
		s := testSegment()
		s.XForwardedFor, s.ClientIP = tc.xff, []byte(tc.client)
		var e spanEncoder
		var span tracepb.Span
		if err := proto.Unmarshal(e.appendSpan(nil, s), &span); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range span.Attributes {
			got[kv.Key] = kv.Value.GetStringValue()
		}
		if got["client.address"] != tc.client || got["network.peer.address"] != tc.peer {
			t.Errorf("X-Forwarded-For %v: client.address %q, network.peer.address %q; want %q, %q",
				tc.xff, got["client.address"], got["network.peer.address"], tc.client, tc.peer)
		}
	}
}
