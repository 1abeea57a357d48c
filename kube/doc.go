// Package kube names connections after the Kubernetes pods of this node.
//
// In: the pods of one node, from the API server (client-go's informer
// over NewPodListWatch: list and watch with the field selector
// spec.nodeName=NODE, through a REST client of core/v1 alone, not the
// clientset, whose initialisers cost every run ~10 ms of start-up and half
// of the binary), and, per request, the server side of its connection
// (address and port).
//
// Out: for a server address (and port) that belongs to a pod, the pod's
// service name (precedence: the annotation xray-capture/service-name, the
// labels app.kubernetes.io/name and app, then the owning workload: a
// Deployment through its ReplicaSet, a StatefulSet, a DaemonSet, a Job) and
// its facts as the X-Ray SDKs' EKS plugin records them: `"eks":
// {"cluster_name", "pod", "container_id"}` plus "namespace", with origin
// AWS::EKS::Container. A pod on the pod network is found by its address; a
// pod on the host network shares the node's address and is found by
// address and port (its containerPorts and the ports of its
// xray-capture/ports annotation), or not at all. Anything not found is
// named by the fallback namer and counted (Unknown).
//
// Ownership and concurrency: the informer's goroutine builds an immutable
// table from its cache on every change and swaps it in atomically; the
// capture's goroutines read it with a load and two map lookups, without
// locking or allocating. The name and fact bytes a lookup returns belong
// to the table and are never written again: callers may keep them. Pods is
// safe for concurrent use.
package kube
