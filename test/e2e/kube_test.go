//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// fakePod is a pod of the node: its object, and what its segments must say.
type fakePod struct {
	pod         corev1.Pod
	ip          string
	service     string // the name its segments take
	containerID string // aws.eks.container_id
}

// nodePods are the pods of node1, one per naming rule. The annotation and
// the label app.kubernetes.io/name are set beside the lower rules they
// must win over; the first pod's serving container is its second.
func nodePods() []fakePod {
	running := func(ip string, containers ...string) (corev1.PodSpec, corev1.PodStatus) {
		spec := corev1.PodSpec{NodeName: "node1"}
		st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		for i, c := range containers {
			ct := corev1.Container{Name: c, Image: "example/" + c}
			if i == len(containers)-1 {
				ct.Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
			}
			spec.Containers = append(spec.Containers, ct)
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c, Ready: true, ContainerID: fmt.Sprintf("containerd://%s-%s", strings.ReplaceAll(ip, ".", ""), c)})
		}
		return spec, st
	}
	mk := func(ns, name, ip string, labels, annotations map[string]string, owner *metav1.OwnerReference, service, serving string, containers ...string) fakePod {
		p := fakePod{ip: ip, service: service, containerID: strings.ReplaceAll(ip, ".", "") + "-" + serving}
		p.pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		p.pod.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "10",
			Labels: labels, Annotations: annotations}
		if owner != nil {
			p.pod.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		p.pod.Spec, p.pod.Status = running(ip, containers...)
		return p
	}
	yes := true
	return []fakePod{
		mk("shop", "shop-0", "10.244.0.11", map[string]string{"app.kubernetes.io/name": "not-this", "app": "nor-this"},
			map[string]string{"xray-capture/service-name": "shop"}, nil, "shop", "app", "istio-proxy", "app"),
		mk("store", "cart-0", "10.244.0.12", map[string]string{"app.kubernetes.io/name": "cart", "app": "not-this"},
			nil, nil, "cart", "server", "server"),
		mk("default", "legacy-x1", "10.244.0.13", map[string]string{"app": "legacy"}, nil, nil, "legacy", "main", "main"),
		mk("default", "web-5f6c7d8b9-qwert", "10.244.0.14", map[string]string{"pod-template-hash": "5f6c7d8b9"}, nil,
			&metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5f6c7d8b9", UID: "uid-rs", Controller: &yes},
			"web", "nginx", "nginx"),
	}
}

// fakeAPI answers what client-go's pod informer asks of an API server:
// the watch-list (a watch with sendInitialEvents, client-go's default
// since 1.35: the pods as ADDED events, then the bookmark that ends the
// initial events), the plain list it falls back to, and the watch that
// follows a list; watches stay open, streaming nothing more. It refuses a
// request without the node's field selector, so that a test passes only
// if the agent asks for its own node's pods.
type fakeAPI struct {
	pods []corev1.Pod
	mu   sync.Mutex
	log  []string // the requests, and what was wrong with them
	bad  []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.String())
	f.mu.Unlock()
	q := r.URL.Query()
	if r.URL.Path != "/api/v1/pods" || q.Get("fieldSelector") != "spec.nodeName=node1" {
		f.mu.Lock()
		f.bad = append(f.bad, r.URL.String())
		f.mu.Unlock()
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if q.Get("watch") != "true" {
		json.NewEncoder(w).Encode(corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"},
			ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: f.pods})
		return
	}
	enc := json.NewEncoder(w)
	if q.Get("sendInitialEvents") == "true" {
		for i := range f.pods {
			enc.Encode(metav1.WatchEvent{Type: "ADDED", Object: rawJSON(&f.pods[i])})
		}
		enc.Encode(metav1.WatchEvent{Type: "BOOKMARK", Object: rawJSON(&corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10",
				Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})})
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func rawJSON(v any) (r runtime.RawExtension) {
	r.Raw, _ = json.Marshal(v)
	return r
}

// kubeconfig writes a kubeconfig whose cluster is server.
func kubeconfig(t *testing.T, server string) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
users:
- name: agent
  user: {}
contexts:
- name: fake
  context:
    cluster: fake
    user: agent
current-context: fake
`, server)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// summaryCounters reads the key=value pairs of the agent's exit summary
// line; a counter it leaves out is zero.
func summaryCounters(t *testing.T, stderr string) map[string]int {
	line := summaryLine(stderr)
	if !strings.HasPrefix(line, "xray-capture: ") {
		t.Fatalf("no summary line:\n%s", stderr)
	}
	m := map[string]int{}
	for _, f := range strings.Fields(strings.TrimPrefix(line, "xray-capture: ")) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				m[k] = n
			}
		}
	}
	return m
}

// TestKubernetesPods: a node whose pods are network namespaces on a
// bridge, as a CNI's bridge plugin makes them (10.244.0.0/24), each
// serving on 8080, and a client on the same bridge. The agent runs in the
// node's namespace on every interface, so each packet between the client
// and a pod is seen twice: received on the client's host-side veth, sent
// on the pod's. It learns the pods from a fake API server through
// --kubeconfig. Every request is traced exactly once, under its pod's
// name, with aws.eks; the one to an address no pod has takes the fallback
// name. The second copies are recognised by their TCP sequence numbers:
// the metrics count them as retransmitted segments. Both ways client-go
// fetches the pods are run: the watch-list (its default) and the list
// then watch it falls back to (the API servers that refuse a watch-list,
// or KUBE_FEATURE_WatchListClient=false in the agent's environment).
func TestKubernetesPods(t *testing.T) {
	testutil.Privileged(t)
	for _, watchList := range []string{"true", "false"} {
		t.Run("WatchListClient="+watchList, func(t *testing.T) {
			t.Setenv("KUBE_FEATURE_WatchListClient", watchList) // the agent inherits it
			testKubernetesPods(t, watchList == "true")
		})
	}
}

func testKubernetesPods(t *testing.T, watchList bool) {
	node, cli := testutil.NewNetNS(t), testutil.NewNetNS(t)
	node.Run(t, "ip", "link", "add", "cni0", "type", "bridge")
	node.Run(t, "ip", "addr", "add", "10.244.0.1/24", "dev", "cni0")
	node.Run(t, "ip", "link", "set", "cni0", "up")
	attach := func(ns *testutil.NetNS, hostIf, addr string) {
		testutil.Link(t, ns, "eth0", []string{addr}, node, hostIf, nil)
		node.Run(t, "ip", "link", "set", hostIf, "master", "cni0")
	}
	attach(cli, "vethcli", "10.244.0.100/24")
	// A pod of the node as a client: its requests to a server that is not
	// here (another node's pod) are that server's agent's to trace.
	podcli := testutil.NewNetNS(t)
	attach(podcli, "vethpod", "10.244.0.101/24")

	pods := nodePods()
	// The last server has an address of the range but no pod object.
	servers := []string{}
	for _, p := range pods {
		servers = append(servers, p.ip)
	}
	servers = append(servers, "10.244.0.15")
	for i, ip := range servers {
		ns := testutil.NewNetNS(t)
		attach(ns, fmt.Sprintf("veth%d", i), ip+"/24")
		var ln net.Listener
		if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", ":8080"); return }); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: app()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}

	api := &fakeAPI{}
	for _, p := range pods {
		api.pods = append(api.pods, p.pod)
	}
	client := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-0", UID: "uid-checkout-0", ResourceVersion: "10"},
		Spec:       corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "main", Image: "example/main"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.244.0.1", PodIP: "10.244.0.101",
			PodIPs: []corev1.PodIP{{IP: "10.244.0.101"}}}}
	api.pods = append(api.pods, client)
	ts := httptest.NewUnstartedServer(api)
	if err := node.Do(func() (err error) { ts.Listener, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	ts.Start()
	t.Cleanup(ts.Close)

	e := &env{srv: node, cli: cli, stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	e.startAgent(t, node, "ebpf", "--kubernetes", "on", "--kubeconfig", kubeconfig(t, ts.URL),
		"--node-name", "node1", "--cluster-name", "test", "--service-name", "fallback", "--metrics-address", "127.0.0.1:9100")
	if !strings.Contains(e.stderr.String(), "kubernetes: watching the pods of the node") ||
		!strings.Contains(e.stderr.String(), fmt.Sprintf("pods=%d", len(api.pods))) {
		t.Fatalf("the agent did not list the node's %d pods before capturing:\n%s", len(pods), e.stderr.String())
	}

	// Two keep-alive clients per server, each sending perClient requests.
	const clients, perClient = 2, 10
	var bases []string
	for _, ip := range servers {
		bases = append(bases, "http://"+ip+":8080/k")
	}
	keepAliveGets(t, cli, bases, clients, perClient)
	// The pod client calls the server with no pod object (standing for
	// another node's pod): not traced here, counted.
	const remote = 10
	podHC := clientIn(podcli)
	for i := range remote {
		resp, err := podHC.Get(fmt.Sprintf("http://10.244.0.15:8080/remote/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	total := len(servers) * clients * perClient
	raw, bad := e.daemon.Wait(total, 10*time.Second)
	if len(bad) > 0 {
		t.Fatalf("the daemon rejected datagrams: %v", bad)
	}
	// A second copy traced would come as late as the first, or later.
	time.Sleep(500 * time.Millisecond)
	type seg struct {
		doc
		Origin string `json:"origin"`
		AWS    struct {
			EKS map[string]string `json:"eks"`
		} `json:"aws"`
	}
	byURL := map[string][]seg{}
	for _, r := range e.daemon.Docs() {
		var s seg
		if err := json.Unmarshal(r, &s); err != nil {
			t.Fatal(err)
		}
		byURL[s.HTTP.Request.URL] = append(byURL[s.HTTP.Request.URL], s)
	}
	for i, ip := range servers {
		for c := range clients {
			for r := range perClient {
				u := fmt.Sprintf("http://%s:8080/k/%d/%d", ip, c, r)
				s, ok := tracedOnce(t, byURL, u)
				if !ok {
					continue
				}
				if s.HTTP.Request.ClientIP != "10.244.0.100" || s.HTTP.Response == nil || s.HTTP.Response.Status != 200 {
					t.Errorf("%s: %+v", u, s.doc)
				}
				if i == len(pods) { // no pod: the fallback, no Kubernetes facts
					if s.Name != "fallback" || s.Origin != "" || s.AWS.EKS != nil {
						t.Errorf("%s (no pod): name %q origin %q aws.eks %v, want fallback and none", u, s.Name, s.Origin, s.AWS.EKS)
					}
					continue
				}
				p := pods[i]
				want := map[string]string{"cluster_name": "test", "pod": p.pod.Name, "namespace": p.pod.Namespace, "container_id": p.containerID}
				if s.Name != p.service || s.Origin != "AWS::EKS::Container" || fmt.Sprint(s.AWS.EKS) != fmt.Sprint(want) {
					t.Errorf("%s: name %q origin %q aws.eks %v, want %q AWS::EKS::Container %v", u, s.Name, s.Origin, s.AWS.EKS, p.service, want)
				}
			}
		}
	}
	if len(raw) != total || len(e.daemon.Docs()) != total {
		t.Errorf("%d segments for %d requests", len(e.daemon.Docs()), total)
	}
	// Each TCP segment carrying data crossed two interfaces: its second
	// copy holds only bytes already delivered, a retransmission to the
	// reassembly, which drops it. Each request and each response is at
	// least one such segment; pure ACKs are filtered out in the kernel.
	const dupMetric = `xray_capture_reassembly_segments_total{kind="retransmitted"}`
	var m map[string]float64
	for range 50 { // the counters as of the last segment
		if m = e.scrape(t, "127.0.0.1:9100"); m["xray_capture_requests_total"] == float64(total) && m[dupMetric] >= 2*float64(total) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := m[`xray_capture_frames_not_traced_total{reason="remote_server"}`]; got < 2*remote {
		t.Errorf("%v packets counted as to a server elsewhere, want at least %d (the pod client's %d requests and answers)", got, 2*remote, remote)
	}
	dups, packets := int(m[dupMetric]), int(m["xray_capture_packets_total"])
	t.Logf("packets %d, second copies dropped as retransmitted %d (%.0f%% of packets), connections %v, requests %v, segments %v",
		packets, dups, pct(dups, packets), m["xray_capture_connections_total"], m["xray_capture_requests_total"], m["xray_capture_segments_total"])
	if dups < 2*total {
		t.Errorf("%d data segments dropped as second copies, want at least %d (a request and a response each, seen twice)", dups, 2*total)
	}
	if m["xray_capture_connections_total"] != float64(len(servers)*clients) {
		t.Errorf("%v connections tracked, want %d: a second copy of a SYN was taken for a connection", m["xray_capture_connections_total"], len(servers)*clients)
	}
	e.stop(t)

	api.mu.Lock()
	t.Logf("the agent asked the API: %q", api.log)
	if len(api.bad) > 0 {
		t.Errorf("requests without the node's field selector: %q", api.bad)
	}
	if len(api.log) == 0 || strings.Contains(api.log[0], "sendInitialEvents=true") != watchList {
		t.Errorf("the agent's first request %q, want a watch-list: %v", api.log, watchList)
	}
	api.mu.Unlock()
	sum := summaryCounters(t, e.stderr.String())
	if sum["requests"] != total || sum["segments"] != total {
		t.Errorf("summary: requests %d, segments %d, want %d each: %s", sum["requests"], sum["segments"], total, summaryLine(e.stderr.String()))
	}
	if !strings.Contains(e.stderr.String(), "requests_to_no_known_pod="+strconv.Itoa(clients*perClient)) {
		t.Errorf("the exit log does not count %d requests to no known pod:\n%s", clients*perClient, e.stderr.String())
	}
}
