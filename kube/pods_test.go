package kube

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/xray-capture/xray-capture/kube/kubetest"
	"github.com/xray-capture/xray-capture/naming"
)

var _ naming.Namer = (*Namer)(nil)

const node = "ip-10-0-1-5.ec2.internal"

type podOpt func(*corev1.Pod)

func newPod(ns, name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}, Annotations: map[string]string{}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", ContainerID: "containerd://" + name + "-main"}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func label(k, v string) podOpt      { return func(p *corev1.Pod) { p.Labels[k] = v } }
func annotation(k, v string) podOpt { return func(p *corev1.Pod) { p.Annotations[k] = v } }
func owner(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{Kind: kind, Name: name, Controller: &yes})
	}
}
func hostNetwork(p *corev1.Pod) { p.Spec.HostNetwork = true }
func containerPort(container string, port int32) podOpt {
	return func(p *corev1.Pod) {
		for i := range p.Spec.Containers {
			if p.Spec.Containers[i].Name == container {
				p.Spec.Containers[i].Ports = append(p.Spec.Containers[i].Ports, corev1.ContainerPort{ContainerPort: port})
				return
			}
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: container, Ports: []corev1.ContainerPort{{ContainerPort: port}}})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container, ContainerID: "containerd://" + p.Name + "-" + container})
	}
}

// TestServiceNamePrecedence: the annotation, the labels, then the owner.
func TestServiceNamePrecedence(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []podOpt
		want, from string
	}{
		{"annotation over all", []podOpt{annotation(AnnotationServiceName, "shop"), label("app.kubernetes.io/name", "a"), label("app", "b"), owner("StatefulSet", "c")}, "shop", "annotation"},
		{"blank annotation skipped", []podOpt{annotation(AnnotationServiceName, " "), label("app.kubernetes.io/name", "a")}, "a", "label app.kubernetes.io/name"},
		{"app.kubernetes.io/name over app", []podOpt{label("app.kubernetes.io/name", "a"), label("app", "b")}, "a", "label app.kubernetes.io/name"},
		{"app over owner", []podOpt{label("app", "b"), owner("StatefulSet", "c")}, "b", "label app"},
		{"deployment through its replicaset", []podOpt{label("pod-template-hash", "7d9f8b6c5d"), owner("ReplicaSet", "cart-7d9f8b6c5d")}, "cart", "owner Deployment"},
		{"replicaset without the hash label", []podOpt{owner("ReplicaSet", "cart-7d9f8b6c5d")}, "cart-7d9f8b6c5d", "owner ReplicaSet"},
		{"hash that is not the suffix", []podOpt{label("pod-template-hash", "abc"), owner("ReplicaSet", "cart-xyz")}, "cart-xyz", "owner ReplicaSet"},
		{"statefulset", []podOpt{owner("StatefulSet", "db")}, "db", "owner StatefulSet"},
		{"daemonset", []podOpt{owner("DaemonSet", "fluent-bit")}, "fluent-bit", "owner DaemonSet"},
		{"job", []podOpt{owner("Job", "migrate")}, "migrate", "owner Job"},
		{"static pod owned by its node", []podOpt{owner("Node", node)}, "", ""},
		{"nothing", nil, "", ""},
	} {
		got, from := ServiceName(newPod("default", "p", "10.1.0.9", tc.opts...))
		if got != tc.want || from != tc.from {
			t.Errorf("%s: %q from %q, want %q from %q", tc.name, got, from, tc.want, tc.from)
		}
	}
}

func name(n naming.Namer, addr string, port uint16) string {
	return string(n.AppendName(nil, []byte("host"), netip.MustParseAddr(addr), port))
}

// waitFor polls cond, as the informer delivers events asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestInformerFollowsPods: the fake API server's pods, added, changed and
// deleted, are named and described; other nodes' pods and unknown
// addresses take the fallback, counted.
func TestInformerFollowsPods(t *testing.T) {
	shop := newPod("prod", "shop-7d9f8b6c5d-x2x4z", "10.1.0.10", label("pod-template-hash", "7d9f8b6c5d"), owner("ReplicaSet", "shop-7d9f8b6c5d"))
	elsewhere := newPod("prod", "cart-0", "10.1.9.9", label("app", "cart"))
	elsewhere.Spec.NodeName = "another-node"
	client := fake.NewClientset(shop, elsewhere)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods, err := Start(ctx, Config{Pods: kubetest.PodListWatch(client, node), NodeName: node, ClusterName: "demo", Ports: []uint16{8080}})
	if err != nil {
		t.Fatal(err)
	}
	fallback, _ := naming.NewFixed("fallback")
	n := pods.Namer(fallback)
	if got := name(n, "10.1.0.10", 8080); got != "shop" {
		t.Errorf("shop's pod: %q", got)
	}
	if got := name(n, "::ffff:10.1.0.10", 8080); got != "shop" {
		t.Errorf("v4-mapped: %q", got)
	}
	if got := name(n, "10.1.9.9", 8080); got != "fallback" {
		t.Errorf("another node's pod: %q", got)
	}
	if pods.Unknown.Load() != 1 {
		t.Errorf("unknown %d, want 1", pods.Unknown.Load())
	}
	aws, origin, ok := pods.AWSOf(netip.MustParseAddr("10.1.0.10"), 8080)
	var eks map[string]map[string]string
	if err := json.Unmarshal([]byte("{"+string(aws)+"}"), &eks); err != nil || !ok || origin != "AWS::EKS::Container" {
		t.Fatalf("aws %s origin %q: %v", aws, origin, err)
	}
	want := map[string]string{"cluster_name": "demo", "pod": "shop-7d9f8b6c5d-x2x4z", "container_id": "shop-7d9f8b6c5d-x2x4z-main", "namespace": "prod"}
	if len(eks["eks"]) != len(want) {
		t.Errorf("eks %v, want %v", eks["eks"], want)
	}
	for k, v := range want {
		if eks["eks"][k] != v {
			t.Errorf("eks.%s %q, want %q", k, eks["eks"][k], v)
		}
	}

	// Added: a pod with two containers, each declaring its port.
	two := newPod("prod", "web-0", "10.1.0.11", annotation(AnnotationServiceName, "web"), containerPort("main", 8080), containerPort("sidecar", 9090))
	if _, err := client.CoreV1().Pods("prod").Create(ctx, two, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-0", func() bool { return pods.Lookup(netip.MustParseAddr("10.1.0.11"), 8080) != nil })
	if p := pods.Lookup(netip.MustParseAddr("10.1.0.11"), 9090); p == nil || p.ContainerID != "web-0-sidecar" || p.Service != "web" {
		t.Errorf("the sidecar's port: %+v", p)
	}
	if p := pods.Lookup(netip.MustParseAddr("10.1.0.11"), 7000); p == nil || p.ContainerID != "web-0-main" {
		t.Errorf("an undeclared port of the pod: %+v", p)
	}

	// Changed: the annotation now names it.
	shop.Annotations[AnnotationServiceName] = "storefront"
	if _, err := client.CoreV1().Pods("prod").Update(ctx, shop, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new name", func() bool { return name(n, "10.1.0.10", 8080) == "storefront" })

	// Deleted: its address is no one's.
	if err := client.CoreV1().Pods("prod").Delete(ctx, shop.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool { return pods.Lookup(netip.MustParseAddr("10.1.0.10"), 8080) == nil })
	if got := name(n, "10.1.0.10", 8080); got != "fallback" {
		t.Errorf("a deleted pod's address: %q", got)
	}
	if pods.Len() != 1 {
		t.Errorf("%d pods, want web-0 only", pods.Len())
	}
}

// TestHostNetworkPods: host-network pods share the node's address and are
// told apart by port; a port two of them claim, and any other port of the
// node, take the fallback.
func TestHostNetworkPods(t *testing.T) {
	const nodeIP = "10.0.1.5"
	pods := newPods(Config{NodeName: node, Ports: []uint16{8080, 9100}})
	pods.Update([]*corev1.Pod{
		newPod("kube-system", "exporter", nodeIP, hostNetwork, label("app", "node-exporter"), containerPort("main", 9100)),
		newPod("prod", "agent", nodeIP, hostNetwork, label("app", "agent"), annotation(AnnotationPorts, "8080, 8081")),
		newPod("prod", "a", nodeIP, hostNetwork, label("app", "a"), containerPort("main", 7000)),
		newPod("prod", "b", nodeIP, hostNetwork, label("app", "b"), containerPort("main", 7000)),
		newPod("prod", "done", "10.1.0.20", label("app", "done"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	})
	fallback, _ := naming.NewFixed("fallback")
	n := pods.Namer(fallback)
	for _, tc := range []struct {
		addr string
		port uint16
		want string
	}{
		{nodeIP, 9100, "node-exporter"},
		{nodeIP, 8080, "agent"},    // by its annotation
		{nodeIP, 8081, "agent"},    // named, though not traced
		{nodeIP, 7000, "fallback"}, // claimed twice
		{nodeIP, 22, "fallback"},   // the node's own
		{"10.1.0.20", 8080, "fallback"},
	} {
		if got := name(n, tc.addr, tc.port); got != tc.want {
			t.Errorf("%s:%d: %q, want %q", tc.addr, tc.port, got, tc.want)
		}
	}
	if pods.Unknown.Load() != 3 {
		t.Errorf("unknown %d, want 3", pods.Unknown.Load())
	}
}

// TestLookupDoesNotAllocate: the per-request lookup, a hit and a miss.
func TestLookupDoesNotAllocate(t *testing.T) {
	pods := newPods(Config{NodeName: node})
	var list []*corev1.Pod
	for i := range 100 {
		list = append(list, newPod("prod", "p"+string(rune('a'+i%26))+string(rune('a'+i/26)), netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}).String(), label("app", "x")))
	}
	pods.Update(list)
	fallback, _ := naming.NewFixed("fallback")
	n := pods.Namer(fallback)
	buf := make([]byte, 0, 256)
	hit, miss := netip.MustParseAddr("10.1.0.42"), netip.MustParseAddr("10.9.0.1")
	allocs := testing.AllocsPerRun(1000, func() {
		buf = n.AppendName(buf[:0], nil, hit, 8080)
		buf = n.AppendName(buf[:0], nil, miss, 8080)
		pods.AWSOf(hit, 8080)
		pods.Elsewhere(hit, miss)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup", allocs)
	}
	if string(n.AppendName(nil, nil, hit, 8080)) != "x" {
		t.Error("the hit missed")
	}
}

func TestParsePorts(t *testing.T) {
	if p, err := ParsePorts(" 8080,9090 ,"); err != nil || len(p) != 2 || p[0] != 8080 || p[1] != 9090 {
		t.Errorf("%v %v", p, err)
	}
	for _, bad := range []string{"0", "http", "70000", "80;90"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStartNeedsANode(t *testing.T) {
	if _, err := Start(context.Background(), Config{Pods: kubetest.PodListWatch(fake.NewClientset(), node)}); err == nil {
		t.Error("no node name accepted")
	}
	if _, err := Start(context.Background(), Config{NodeName: node}); err == nil {
		t.Error("no source of pods accepted")
	}
}

// TestElsewhere: a connection from this node (a pod, the node, loopback)
// to a server that is not here is traced by the server's own agent; one
// whose ends are both unknown (a pod not listed yet) is not elsewhere.
func TestElsewhere(t *testing.T) {
	const nodeIP = "10.0.1.5"
	pods := newPods(Config{NodeName: node})
	a := netip.MustParseAddr
	if pods.Elsewhere(a("10.1.0.10"), a("10.2.0.10")) {
		t.Error("before any pod is listed, a connection was elsewhere")
	}
	onNode := func(p *corev1.Pod) { p.Status.HostIP = nodeIP }
	pods.Update([]*corev1.Pod{
		newPod("prod", "shop", "10.1.0.10", label("app", "shop"), onNode),
		newPod("prod", "cart", "10.1.0.11", label("app", "cart"), onNode),
	})
	for _, tc := range []struct {
		client, server string
		want           bool
	}{
		{"10.1.0.10", "10.1.0.11", false},       // pod to pod on this node
		{"192.0.2.7", "10.1.0.10", false},       // from outside to a pod here
		{"10.1.0.10", "10.2.0.20", true},        // a pod here to another node's pod
		{nodeIP, "10.2.0.20", true},             // the node itself to another node's pod
		{"127.0.0.1", "10.2.0.20", true},        // loopback is here
		{"10.1.0.10", nodeIP, false},            // a pod to its node (host network)
		{"192.0.2.7", "10.1.0.99", false},       // a pod not listed yet: the fallback name
		{"10.2.0.20", "10.1.0.99", false},       // both unknown
		{"::ffff:10.1.0.10", "10.2.0.20", true}, // mapped addresses unmapped
	} {
		if got := pods.Elsewhere(a(tc.client), a(tc.server)); got != tc.want {
			t.Errorf("%s -> %s: elsewhere %v, want %v", tc.client, tc.server, got, tc.want)
		}
	}
}
