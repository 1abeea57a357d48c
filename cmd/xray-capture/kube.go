package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/xray-capture/xray-capture/kube"
)

// serviceAccountToken is where Kubernetes mounts a pod's token.
const serviceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// kubernetesOn says whether --kubernetes applies: on, or auto when live in
// a pod whose service account token is mounted and whose node is known.
func (o *Options) kubernetesOn() bool {
	switch o.Kubernetes {
	case "on":
		return true
	case "auto":
		_, err := os.Stat(serviceAccountToken)
		return o.Read == "" && err == nil && os.Getenv("KUBERNETES_SERVICE_HOST") != "" && o.nodeName() != ""
	}
	return false
}

func (o *Options) nodeName() string {
	if o.NodeName != "" {
		return o.NodeName
	}
	return os.Getenv("NODE_NAME")
}

// startPods watches the node's pods, through the pod's service account or
// --kubeconfig.
func (o *Options) startPods(ctx context.Context, log *slog.Logger) (*kube.Pods, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("--kubernetes: %w", err)
	}
	cfg.UserAgent = "xray-capture/" + version
	lw, err := kube.NewPodListWatch(cfg, o.nodeName())
	if err != nil {
		return nil, fmt.Errorf("--kubernetes: %w", err)
	}
	pods, err := kube.Start(ctx, kube.Config{Pods: lw, NodeName: o.nodeName(), ClusterName: o.ClusterName,
		Ports: o.Ports, Log: log.With("component", "kubernetes")})
	if err != nil {
		return nil, fmt.Errorf("--kubernetes: %w", err)
	}
	return pods, nil
}
