// Package kubetest serves the tests of kube and of its users: a
// ListerWatcher of one node's pods over a clientset, the fake one of
// client-go's kubernetes/fake in practice, for kube.Config.Pods.
//
// In: a clientset and a node name. Out: a cache.ListerWatcher that asks
// for the node's pods with the field selector spec.nodeName=NODE, as
// kube.NewPodListWatch does, and honours it (the fake clientset ignores
// field selectors). The objects are the clientset's. It is imported by
// tests only: the agent's binary must not link the clientset (see
// cmd/xray-capture's TestBinaryLinksNoClientset).
package kubetest
