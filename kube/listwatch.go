package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// NewPodListWatch lists and watches the pods of nodeName (the field
// selector spec.nodeName=NODE) through a REST client of core/v1 alone.
// It stands in for client-go's clientset, whose package initialisers
// (every API group's scheme, the apply configurations, discovery) cost
// every run of the agent, offline replays included, some 10 ms of
// start-up and a third of the binary: see docs/benchmarks.md.
// cfg is copied, not changed; its UserAgent is kept.
func NewPodListWatch(cfg *rest.Config, nodeName string) (cache.ListerWatcher, error) {
	scheme := runtime.NewScheme()
	// core/v1's types, and meta/v1's (lists, watch events, Status) in v1.
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return cache.NewListWatchFromClient(client, "pods", corev1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", nodeName)), nil
}
