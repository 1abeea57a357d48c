package kube

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/xray-capture/xray-capture/naming"
)

// podAPI is an API server's pod endpoint as client-go's reflector uses
// it: GET /api/v1/pods lists, ?watch=true streams the events the test
// sends. With watchList, a watch asking for sendInitialEvents gets the
// pods as ADDED events and the bookmark that ends them (a 1.34+ server);
// without, it is refused as a server without the feature refuses it, and
// the reflector lists then watches. A request without the node's field
// selector gets 404, and is recorded as bad.
type podAPI struct {
	pods      []corev1.Pod
	rv        string
	watchList bool
	events    chan metav1.WatchEvent

	mu       sync.Mutex
	requests []*url.URL
	agents   []string
	bad      []string
}

func (a *podAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.URL)
	a.agents = append(a.agents, r.UserAgent())
	a.mu.Unlock()
	q := r.URL.Query()
	status := func(code int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status: metav1.StatusFailure, Reason: metav1.StatusReason(reason), Code: int32(code)})
	}
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/pods" || q.Get("fieldSelector") != "spec.nodeName=n1" {
		a.mu.Lock()
		a.bad = append(a.bad, r.Method+" "+r.URL.String())
		a.mu.Unlock()
		status(http.StatusNotFound, "NotFound")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if q.Get("watch") != "true" {
		json.NewEncoder(w).Encode(corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"},
			ListMeta: metav1.ListMeta{ResourceVersion: a.rv}, Items: a.pods})
		return
	}
	enc := json.NewEncoder(w)
	if q.Get("sendInitialEvents") == "true" {
		if !a.watchList {
			status(http.StatusUnprocessableEntity, "Invalid")
			return
		}
		for i := range a.pods {
			enc.Encode(metav1.WatchEvent{Type: "ADDED", Object: raw(&a.pods[i])})
		}
		enc.Encode(metav1.WatchEvent{Type: "BOOKMARK", Object: raw(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: a.rv, Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})})
	}
	w.(http.Flusher).Flush()
	for {
		select {
		case e := <-a.events:
			enc.Encode(e)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// raw encodes a pod as the API server does, with its kind.
func raw(p *corev1.Pod) runtime.RawExtension {
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	b, _ := json.Marshal(p)
	return runtime.RawExtension{Raw: b}
}

func (a *podAPI) send(typ string, p *corev1.Pod, rv string) {
	p = p.DeepCopy()
	p.ResourceVersion = rv
	a.events <- metav1.WatchEvent{Type: typ, Object: raw(p)}
}

// TestNewPodListWatch: the agent's REST client of core/v1 against an HTTP
// server speaking the pods' list and watch: the table follows the pods
// listed, then modified, added and deleted by the watch, and every request
// carries the node's field selector and the agent's user agent. Both ways
// the reflector fetches: list then watch, and watch-list.
func TestNewPodListWatch(t *testing.T) {
	for _, watchList := range []bool{false, true} {
		sub := "ListThenWatch"
		if watchList {
			sub = "WatchList"
		}
		t.Run(sub, func(t *testing.T) { testNewPodListWatch(t, watchList) })
	}
}

func testNewPodListWatch(t *testing.T, watchList bool) {
	shop := newPod("prod", "shop-0", "10.1.0.10", label("app", "shop"))
	shop.Spec.NodeName = "n1"
	shop.ResourceVersion = "10"
	api := &podAPI{pods: []corev1.Pod{*shop}, rv: "10", watchList: watchList, events: make(chan metav1.WatchEvent, 8)}
	srv := httptest.NewServer(api)
	defer srv.Close()

	lw, err := NewPodListWatch(&rest.Config{Host: srv.URL, UserAgent: "xray-capture/test"}, "n1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods, err := Start(ctx, Config{Pods: lw, NodeName: "n1", Ports: []uint16{8080}, SyncTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	bad := slices.Clone(api.bad)
	api.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("requests without the node's field selector: %q", bad)
	}
	fallback, _ := naming.NewFixed("fallback")
	n := pods.Namer(fallback)
	waitFor(t, "the listed pod", func() bool { return name(n, "10.1.0.10", 8080) == "shop" })

	modified := shop.DeepCopy()
	modified.Labels["app"] = "storefront"
	api.send("MODIFIED", modified, "11")
	waitFor(t, "the modified pod", func() bool { return name(n, "10.1.0.10", 8080) == "storefront" })

	cart := newPod("prod", "cart-0", "10.1.0.11", label("app", "cart"))
	cart.Spec.NodeName = "n1"
	api.send("ADDED", cart, "12")
	waitFor(t, "the added pod", func() bool { return name(n, "10.1.0.11", 8080) == "cart" })

	api.send("DELETED", modified, "13")
	waitFor(t, "the deleted pod", func() bool { return pods.Lookup(netip.MustParseAddr("10.1.0.10"), 8080) == nil })
	if got := name(n, "10.1.0.10", 8080); got != "fallback" || pods.Len() != 1 {
		t.Errorf("after the deletion: %q, %d pods", got, pods.Len())
	}

	cancel()
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.bad) > 0 {
		t.Errorf("requests without the node's field selector: %q", api.bad)
	}
	for i, a := range api.agents {
		if a != "xray-capture/test" {
			t.Errorf("request %s: user agent %q", api.requests[i], a)
		}
	}
	// Which way the reflector went: a plain list and a watch from its
	// version, or a watch-list and no list.
	var kinds []string
	for _, u := range api.requests {
		q := u.Query()
		switch {
		case q.Get("watch") != "true":
			kinds = append(kinds, "list")
		case q.Get("sendInitialEvents") == "true":
			kinds = append(kinds, "watch-list")
		case q.Get("resourceVersion") == "10":
			kinds = append(kinds, "watch")
		default:
			kinds = append(kinds, "other: "+u.String())
		}
	}
	want := []string{"watch-list", "list", "watch"}
	if watchList {
		want = []string{"watch-list"}
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("requests %s, want %s", strings.Join(kinds, ", "), strings.Join(want, ", "))
	}
}
