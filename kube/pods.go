package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/xray-capture/xray-capture/naming"
)

// Annotations and the origin of the segments of a pod.
const (
	AnnotationServiceName = "xray-capture/service-name"
	AnnotationPorts       = "xray-capture/ports"
	Origin                = "AWS::EKS::Container"
)

// Config says which pods to watch and what to record of them.
type Config struct {
	// Pods lists and watches the node's pods: NewPodListWatch, or in
	// tests a ListWatch over a fake clientset.
	Pods        cache.ListerWatcher
	NodeName    string // the node whose pods are watched (the downward API's spec.nodeName)
	ClusterName string // aws.eks.cluster_name
	// Ports are the ports traced: a pod asking for another one in its
	// xray-capture/ports annotation is logged, once, as not traced.
	Ports []uint16
	Log   *slog.Logger
	// SyncTimeout bounds the wait for the first list; 0: 30 s. Past it
	// the agent goes on, naming by the fallback until the pods come.
	SyncTimeout time.Duration
}

// Pod is what the table knows of a pod.
type Pod struct {
	Namespace, Name string
	Service         string // the name its segments take
	ContainerID     string // of the container serving the port, or the first container
	name, aws       []byte
}

// table is one immutable snapshot of the node's pods.
type table struct {
	byAddr     map[netip.Addr]*Pod
	byAddrPort map[netip.AddrPort]*Pod
	hosts      map[netip.Addr]bool // the node's own addresses (its pods' host IPs)
	pods       int
}

// Pods follows the pods of one node. The zero value knows no pod.
type Pods struct {
	t       atomic.Pointer[table]
	cfg     Config
	traced  map[uint16]bool
	warned  map[string]bool // pod/port pairs already logged as not traced
	Unknown atomic.Uint64   // requests to an address no pod of the node has
}

// Start watches cfg.NodeName's pods until ctx ends. It waits for the first
// list, at most cfg.SyncTimeout; a list that does not come in time is
// logged, and the pods are named as they arrive.
func Start(ctx context.Context, cfg Config) (*Pods, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("no node name: set NODE_NAME from the downward API (fieldPath: spec.nodeName)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.Pods == nil {
		return nil, errors.New("no source of pods")
	}
	p := newPods(cfg)
	// The informer of client-go's clientset, without the clientset: the
	// same reflector (relist, backoff, bookmarks, watch-list), no resync.
	inf := cache.NewSharedIndexInformer(cfg.Pods, &corev1.Pod{}, 0, cache.Indexers{})
	rebuild := func() {
		objs := inf.GetStore().List()
		list := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			if kp, ok := o.(*corev1.Pod); ok {
				list = append(list, kp)
			}
		}
		p.Update(list)
	}
	// One handler: the informer calls it from one goroutine, in order.
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { rebuild() },
		UpdateFunc: func(any, any) { rebuild() },
		DeleteFunc: func(any) { rebuild() },
	}); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	go inf.RunWithContext(ctx)
	sctx, cancel := context.WithTimeout(ctx, cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		cfg.Log.Warn("kubernetes: the pods of the node are not listed yet; requests take the fallback name until they are",
			"node", cfg.NodeName, "waited", cfg.SyncTimeout.String())
	} else {
		cfg.Log.Info("kubernetes: watching the pods of the node", "node", cfg.NodeName, "pods", p.Len())
	}
	return p, nil
}

func newPods(cfg Config) *Pods {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pods{cfg: cfg, traced: map[uint16]bool{}, warned: map[string]bool{}}
	for _, port := range cfg.Ports {
		p.traced[port] = true
	}
	p.t.Store(&table{})
	return p
}

// Len is the number of pods in the current table.
func (p *Pods) Len() int { return p.t.Load().pods }

// Lookup finds the pod serving server:port: by address and port first
// (the host network's pods, and a container's declared port), then by
// address. It does not allocate.
func (p *Pods) Lookup(server netip.Addr, port uint16) *Pod {
	t := p.t.Load()
	server = server.Unmap()
	if pod, ok := t.byAddrPort[netip.AddrPortFrom(server, port)]; ok {
		return pod
	}
	return t.byAddr[server]
}

// Elsewhere reports whether a connection is one that a pod of this node
// (or the node itself) opened to a server on another node or outside the
// cluster: the client is here, the server is not. The agent where that
// server runs traces it, under its name; traced here as well, it would
// reach X-Ray twice, once misnamed. A server not known here with a client
// not known either (a pod not listed yet) is not elsewhere: it takes the
// fallback name. Before any pod is listed, nothing is elsewhere. It does
// not allocate.
func (p *Pods) Elsewhere(client, server netip.Addr) bool {
	t := p.t.Load()
	return t.pods > 0 && t.here(client.Unmap()) && !t.here(server.Unmap())
}

// here: an address of this node: a pod's, the node's own, or loopback.
func (t *table) here(a netip.Addr) bool {
	return a.IsLoopback() || t.hosts[a] || t.byAddr[a] != nil
}

// AWSOf gives the pod's members of the segment's "aws" object and its
// origin (segmenter.Resources).
func (p *Pods) AWSOf(server netip.Addr, port uint16) ([]byte, string, bool) {
	if pod := p.Lookup(server, port); pod != nil {
		return pod.aws, Origin, true
	}
	return nil, "", false
}

// Namer names a request after its server's pod, and by the fallback
// otherwise.
type Namer struct {
	pods     *Pods
	fallback naming.Namer
}

// Namer returns a namer over p; fallback names what no pod serves.
func (p *Pods) Namer(fallback naming.Namer) *Namer { return &Namer{pods: p, fallback: fallback} }

// AppendName appends the pod's service name, else the fallback's.
func (n *Namer) AppendName(dst, host []byte, server netip.Addr, port uint16) []byte {
	if pod := n.pods.Lookup(server, port); pod != nil {
		return append(dst, pod.name...)
	}
	n.pods.Unknown.Add(1)
	return n.fallback.AppendName(dst, host, server, port)
}

// Update builds the table from list and swaps it in: the pods of the node
// that are not finished. Only one goroutine calls it (the informer's).
func (p *Pods) Update(list []*corev1.Pod) {
	list = slices.Clone(list)
	// Sorted, so that a conflict resolves the same way every time.
	slices.SortFunc(list, func(a, b *corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	t := &table{byAddr: map[netip.Addr]*Pod{}, byAddrPort: map[netip.AddrPort]*Pod{}, hosts: map[netip.Addr]bool{}}
	conflicts := map[netip.AddrPort]bool{}
	for _, kp := range list {
		if kp.Spec.NodeName != p.cfg.NodeName || kp.Status.Phase == corev1.PodSucceeded || kp.Status.Phase == corev1.PodFailed ||
			kp.DeletionTimestamp != nil && kp.Status.Phase != corev1.PodRunning {
			continue
		}
		addrs := podAddrs(kp)
		if len(addrs) == 0 {
			continue // no address yet: the update that gives one comes later
		}
		t.pods++
		for _, a := range hostAddrs(kp) {
			t.hosts[a] = true
		}
		first := p.newPod(kp, firstContainer(kp))
		if !kp.Spec.HostNetwork {
			for _, a := range addrs {
				t.byAddr[a] = first
			}
		}
		for port, c := range p.podPorts(kp) {
			pod := first
			if c != nil {
				pod = p.newPod(kp, c)
			}
			for _, a := range addrs {
				k := netip.AddrPortFrom(a, port)
				if other, ok := t.byAddrPort[k]; ok && other.Namespace+"/"+other.Name != kp.Namespace+"/"+kp.Name || conflicts[k] {
					// Two host-network pods claim one port: neither is sure.
					conflicts[k] = true
					delete(t.byAddrPort, k)
					continue
				}
				t.byAddrPort[k] = pod
			}
		}
	}
	for k := range conflicts {
		p.cfg.Log.Warn("kubernetes: several host-network pods declare the same port; its requests take the fallback name", "address", k.String())
	}
	p.t.Store(t)
}

// hostAddrs are the addresses of the node the pod runs on.
func hostAddrs(kp *corev1.Pod) []netip.Addr {
	ips := []string{kp.Status.HostIP}
	for _, ip := range kp.Status.HostIPs {
		ips = append(ips, ip.IP)
	}
	return parseAddrs(ips)
}

// podAddrs are the pod's addresses: its pod IPs (on the host network, the
// node's).
func podAddrs(kp *corev1.Pod) []netip.Addr {
	ips := []string{kp.Status.PodIP}
	for _, ip := range kp.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	return parseAddrs(ips)
}

// parseAddrs returns the addresses among ips, each once; what does not
// parse (an empty field) is left out.
func parseAddrs(ips []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// podPorts maps the pod's TCP ports to the container declaring them (nil
// for the ports of the annotation that no container declares).
func (p *Pods) podPorts(kp *corev1.Pod) map[uint16]*corev1.Container {
	ports := map[uint16]*corev1.Container{}
	for i := range kp.Spec.Containers {
		c := &kp.Spec.Containers[i]
		for _, cp := range c.Ports {
			if cp.Protocol != "" && cp.Protocol != corev1.ProtocolTCP || cp.ContainerPort < 1 || cp.ContainerPort > 65535 {
				continue
			}
			if _, ok := ports[uint16(cp.ContainerPort)]; !ok {
				ports[uint16(cp.ContainerPort)] = c
			}
		}
	}
	annotated, err := ParsePorts(kp.Annotations[AnnotationPorts])
	if err != nil {
		p.warnOnce(kp.Namespace+"/"+kp.Name+"/bad", "kubernetes: pod annotation "+AnnotationPorts+" ignored",
			"pod", kp.Namespace+"/"+kp.Name, "error", err.Error())
	}
	for _, port := range annotated {
		if _, ok := ports[port]; !ok {
			ports[port] = nil
		}
		if !p.traced[port] {
			p.warnOnce(kp.Namespace+"/"+kp.Name+"/"+strconv.Itoa(int(port)),
				"kubernetes: a pod asks for a port that is not traced: the capture filter's ports are fixed at start; add it to --port",
				"pod", kp.Namespace+"/"+kp.Name, "port", port)
		}
	}
	return ports
}

func (p *Pods) warnOnce(key, msg string, args ...any) {
	if p.warned[key] {
		return
	}
	p.warned[key] = true
	p.cfg.Log.Warn(msg, args...)
}

// ParsePorts reads the xray-capture/ports annotation: ports separated by
// commas (spaces allowed), "" for none.
func ParsePorts(s string) ([]uint16, error) {
	var out []uint16
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("port %q: want numbers from 1 to 65535, separated by commas", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

func firstContainer(kp *corev1.Pod) *corev1.Container {
	if len(kp.Spec.Containers) == 0 {
		return nil
	}
	return &kp.Spec.Containers[0]
}

// newPod builds the entry of kp's container c.
func (p *Pods) newPod(kp *corev1.Pod, c *corev1.Container) *Pod {
	pod := &Pod{Namespace: kp.Namespace, Name: kp.Name}
	pod.Service, _ = ServiceName(kp)
	if c != nil {
		pod.ContainerID = containerID(kp, c.Name)
	}
	if pod.Service != "" {
		pod.name = naming.Clean(nil, []byte(pod.Service))
	}
	if len(pod.name) == 0 {
		pod.Service = ""
	}
	pod.aws = p.appendAWS(nil, pod)
	return pod
}

// appendAWS encodes `"eks":{...}`, a member of the segment's "aws" object.
func (p *Pods) appendAWS(dst []byte, pod *Pod) []byte {
	var b bytes.Buffer
	b.WriteString(`"eks":{`)
	sep := ""
	for _, kv := range [][2]string{{"cluster_name", p.cfg.ClusterName}, {"pod", pod.Name}, {"container_id", pod.ContainerID}, {"namespace", pod.Namespace}} {
		if kv[1] == "" {
			continue
		}
		v, _ := json.Marshal(kv[1]) // a string always encodes
		b.WriteString(sep + `"` + kv[0] + `":`)
		b.Write(v)
		sep = ","
	}
	b.WriteByte('}')
	return append(dst, b.Bytes()...)
}

// containerID is the runtime's id of the named container, without the
// runtime's scheme (containerd://, docker://, cri-o://).
func containerID(kp *corev1.Pod, name string) string {
	for _, st := range kp.Status.ContainerStatuses {
		if st.Name == name {
			_, id, ok := strings.Cut(st.ContainerID, "://")
			if !ok {
				id = st.ContainerID
			}
			return id
		}
	}
	return ""
}

// ServiceName is the name a pod's segments take, and the rule that gave
// it: the annotation xray-capture/service-name, the label
// app.kubernetes.io/name, the label app, then the controller that owns the
// pod (a ReplicaSet's Deployment, a StatefulSet, a DaemonSet, a Job, a
// ReplicationController). "" when none applies: the fallback names it.
func ServiceName(kp *corev1.Pod) (name, from string) {
	if v := strings.TrimSpace(kp.Annotations[AnnotationServiceName]); v != "" {
		return v, "annotation"
	}
	for _, l := range []string{"app.kubernetes.io/name", "app"} {
		if v := strings.TrimSpace(kp.Labels[l]); v != "" {
			return v, "label " + l
		}
	}
	owner := metav1.GetControllerOf(kp)
	if owner == nil {
		return "", ""
	}
	switch owner.Kind {
	case "ReplicaSet":
		// A Deployment's ReplicaSet is named DEPLOYMENT-HASH, the hash
		// being the pod-template-hash label.
		if h := kp.Labels["pod-template-hash"]; h != "" {
			if d, ok := strings.CutSuffix(owner.Name, "-"+h); ok && d != "" {
				return d, "owner Deployment"
			}
		}
		return owner.Name, "owner ReplicaSet"
	case "StatefulSet", "DaemonSet", "Job", "ReplicationController":
		return owner.Name, "owner " + owner.Kind
	}
	return "", ""
}
