package kubetest

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// PodListWatch lists and watches nodeName's pods through client.
func PodListWatch(client kubernetes.Interface, nodeName string) cache.ListerWatcher {
	sel := fields.OneTermEqualSelector("spec.nodeName", nodeName)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel.String()
			list, err := client.CoreV1().Pods(corev1.NamespaceAll).List(ctx, o)
			if err != nil {
				return nil, err
			}
			kept := list.Items[:0]
			for _, p := range list.Items {
				if sel.Matches(podFields(&p)) {
					kept = append(kept, p)
				}
			}
			list.Items = kept
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel.String()
			w, err := client.CoreV1().Pods(corev1.NamespaceAll).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
				p, ok := e.Object.(*corev1.Pod)
				return e, !ok || sel.Matches(podFields(p)) // bookmarks and errors pass
			}), nil
		},
	}
	// The fake clientset tells the reflector it cannot stream a watch-list;
	// the wrapper passes that on, as client-go's own pod informer does.
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}

// podFields are the fields of a pod that the API server selects on here.
func podFields(p *corev1.Pod) fields.Set {
	return fields.Set{"metadata.namespace": p.Namespace, "metadata.name": p.Name, "spec.nodeName": p.Spec.NodeName}
}
