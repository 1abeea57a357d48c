package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/xray-capture/xray-capture/kube"
	"github.com/xray-capture/xray-capture/kube/kubetest"
	"github.com/xray-capture/xray-capture/segmenter"
)

// TestReplayNamesPods: with Pods, a replay's segments take the name of the
// pod serving 192.0.2.1 and carry its aws.eks facts and origin, after the
// plugins' members.
func TestReplayNamesPods(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "shop-0", Labels: map[string]string{"app": "shop"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "main"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.1",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", ContainerID: "containerd://abc123"}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods, err := kube.Start(ctx, kube.Config{Pods: kubetest.PodListWatch(fake.NewClientset(pod), "n1"), NodeName: "n1", ClusterName: "demo", Ports: []uint16{8080}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := New(ctx, Options{
		Read: "../../testdata/captures/keepalive.pcap", Ports: []uint16{8080}, ServiceName: "fallback", Pods: pods,
		ResponseTimeout: segmenter.DefaultResponseTimeout, IdleTimeout: segmenter.DefaultIdleTimeout,
		MaxConnections: segmenter.DefaultMaxConnections, MaxPending: segmenter.DefaultMaxPending,
		ReassemblyMB: 64, HeaderBufferMB: 64, IDSeed: 1, Output: "-", Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d segments, want 10", len(lines))
	}
	for _, l := range lines {
		var seg struct {
			Name, Origin string
			AWS          struct{ EKS map[string]string }
		}
		if err := json.Unmarshal([]byte(l), &seg); err != nil {
			t.Fatal(err)
		}
		if seg.Name != "shop" || seg.Origin != "AWS::EKS::Container" || seg.AWS.EKS["pod"] != "shop-0" ||
			seg.AWS.EKS["container_id"] != "abc123" || seg.AWS.EKS["cluster_name"] != "demo" || seg.AWS.EKS["namespace"] != "prod" {
			t.Fatalf("segment %s", l)
		}
	}
	if pods.Unknown.Load() != 0 {
		t.Errorf("unknown %d", pods.Unknown.Load())
	}
}
