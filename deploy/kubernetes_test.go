package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/xray-capture/xray-capture/emitter"
)

// manifest is deploy/kubernetes/xray-capture.yaml, each document decoded
// strictly into its API type.
type manifest struct {
	namespaces      []*corev1.Namespace
	priorityClasses []*schedulingv1.PriorityClass
	accounts        []*corev1.ServiceAccount
	roles           []*rbacv1.ClusterRole
	bindings        []*rbacv1.ClusterRoleBinding
	configMaps      []*corev1.ConfigMap
	daemonSets      []*appsv1.DaemonSet
	services        []*corev1.Service
	order           []string // kind/name, as applied
}

func readManifest(t *testing.T) *manifest {
	t.Helper()
	raw, err := os.ReadFile("kubernetes/xray-capture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		m.order = append(m.order, meta.Kind+"/"+meta.Metadata.Name)
		switch meta.Kind {
		case "Namespace":
			err = decode(doc, &m.namespaces)
		case "PriorityClass":
			err = decode(doc, &m.priorityClasses)
		case "ServiceAccount":
			err = decode(doc, &m.accounts)
		case "ClusterRole":
			err = decode(doc, &m.roles)
		case "ClusterRoleBinding":
			err = decode(doc, &m.bindings)
		case "ConfigMap":
			err = decode(doc, &m.configMaps)
		case "DaemonSet":
			err = decode(doc, &m.daemonSets)
		case "Service":
			err = decode(doc, &m.services)
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s does not decode strictly: %v", meta.Kind, err)
		}
	}
	return m
}

func decode[T any](doc string, list *[]*T) error {
	v := new(T)
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

func (m *manifest) daemonSet(t *testing.T, name string) *appsv1.DaemonSet {
	t.Helper()
	for _, ds := range m.daemonSets {
		if ds.Name == name {
			return ds
		}
	}
	t.Fatalf("no DaemonSet %s", name)
	return nil
}

func (m *manifest) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range m.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}

// agent is the xray-capture DaemonSet and its container.
func (m *manifest) agent(t *testing.T) (*appsv1.DaemonSet, corev1.Container) {
	t.Helper()
	ds := m.daemonSet(t, "xray-capture")
	if n := len(ds.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers in the agent's pod", n)
	}
	return ds, ds.Spec.Template.Spec.Containers[0]
}

// effectiveConfig is `xray-capture config print` for the agent's container:
// its arguments, with the ConfigMap's file, under the container's
// environment and nothing of ours.
func (m *manifest) effectiveConfig(t *testing.T) map[string]any {
	t.Helper()
	_, c := m.agent(t)
	cm := m.configMap(t, "xray-capture")
	conf := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(conf, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(c.Args) != 2 || c.Args[0] != "--config" || c.Args[1] != "/etc/xray-capture/config.yaml" {
		t.Fatalf("args %q: want --config /etc/xray-capture/config.yaml", c.Args)
	}
	cmd := exec.Command(binary(t), "config", "print", "--config", conf)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xray-capture rejects the ConfigMap's configuration: %v\n%s", err, out)
	}
	var v map[string]any
	if err := yaml.Unmarshal(out, &v); err != nil {
		t.Fatalf("config print: %v\n%s", err, out)
	}
	return v
}

// TestKubernetesManifest: the agent's DaemonSet has the security settings
// the README promises, and the ConfigMap is a configuration it accepts.
func TestKubernetesManifest(t *testing.T) {
	m := readManifest(t)
	ds, c := m.agent(t)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Error("the DaemonSet must use the host network (with ClusterFirstWithHostNet DNS)")
	}
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil {
		t.Fatal("want an unprivileged container with explicit capabilities")
	}
	var add []string
	for _, cp := range sc.Capabilities.Add {
		add = append(add, string(cp))
	}
	slices.Sort(add)
	if strings.Join(add, ",") != "BPF,NET_RAW" || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("capabilities add %v drop %v, want exactly NET_RAW and BPF over ALL dropped", add, sc.Capabilities.Drop)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation must be off")
	}
	lim := c.Resources.Limits
	if lim.Memory().IsZero() || lim.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resources %+v: limits and requests are required", c.Resources)
	}
	cm := m.configMap(t, "xray-capture")
	if len(spec.Volumes) != 1 || spec.Volumes[0].ConfigMap == nil || spec.Volumes[0].ConfigMap.Name != cm.Name ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/xray-capture" || c.VolumeMounts[0].Name != spec.Volumes[0].Name {
		t.Error("the config volume must mount the ConfigMap at /etc/xray-capture")
	}
	if conf := m.effectiveConfig(t); conf["service-name"] != "my-service" || !isOn(conf["kubernetes"]) || conf["cluster-name"] != "my-cluster" {
		t.Errorf("service-name %v, kubernetes %v, cluster-name %v: want my-service, on, my-cluster", conf["service-name"], conf["kubernetes"], conf["cluster-name"])
	}
	// The two edits the README names are marked.
	raw, _ := os.ReadFile("kubernetes/xray-capture.yaml")
	for _, mark := range []string{"# EDIT: image", "# EDIT: cluster name"} {
		if strings.Count(string(raw), mark) != 1 {
			t.Errorf("the manifest must mark %q once", mark)
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the readiness probe must ask /healthz")
	}
}

// TestKubernetesFirstApply: everything a first `kubectl apply` needs is in
// the file, before what needs it: the namespace (with the Pod Security
// level that admits host network and NET_RAW/BPF), the priority class, the
// accounts.
func TestKubernetesFirstApply(t *testing.T) {
	m := readManifest(t)
	if len(m.namespaces) != 1 || m.namespaces[0].Name != "xray" {
		t.Fatalf("want the Namespace xray, got %d namespaces", len(m.namespaces))
	}
	if l := m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"]; l != "privileged" {
		t.Errorf("pod-security.kubernetes.io/enforce %q: baseline refuses hostNetwork and NET_RAW/BPF; want privileged", l)
	}
	at := func(kind, name string) int {
		i := slices.Index(m.order, kind+"/"+name)
		if i < 0 {
			t.Errorf("no %s %s", kind, name)
		}
		return i
	}
	nsAt := at("Namespace", "xray")
	for _, kn := range m.order {
		if !strings.HasPrefix(kn, "Namespace/") && !strings.HasPrefix(kn, "PriorityClass/") &&
			!strings.HasPrefix(kn, "ClusterRole") && slices.Index(m.order, kn) < nsAt {
			t.Errorf("%s comes before its Namespace", kn)
		}
	}
	// Everything namespaced is in xray.
	for _, o := range m.accounts {
		if o.Namespace != "xray" {
			t.Errorf("ServiceAccount %s in %q", o.Name, o.Namespace)
		}
	}
	for _, o := range m.configMaps {
		if o.Namespace != "xray" {
			t.Errorf("ConfigMap %s in %q", o.Name, o.Namespace)
		}
	}
	for _, o := range m.services {
		if o.Namespace != "xray" {
			t.Errorf("Service %s in %q", o.Name, o.Namespace)
		}
	}
	for _, ds := range m.daemonSets {
		spec := ds.Spec.Template.Spec
		if ds.Namespace != "xray" {
			t.Errorf("DaemonSet %s in %q", ds.Name, ds.Namespace)
		}
		if !labels.SelectorFromSet(ds.Spec.Selector.MatchLabels).Matches(labels.Set(ds.Spec.Template.Labels)) {
			t.Errorf("DaemonSet %s: the selector does not select its own pods", ds.Name)
		}
		if spec.PriorityClassName == "" {
			t.Errorf("DaemonSet %s: no priorityClassName", ds.Name)
		} else if !strings.HasPrefix(spec.PriorityClassName, "system-") {
			if pc := at("PriorityClass", spec.PriorityClassName); pc > at("DaemonSet", ds.Name) {
				t.Errorf("PriorityClass %s comes after DaemonSet %s", spec.PriorityClassName, ds.Name)
			}
		}
		if sc := spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("DaemonSet %s: want the RuntimeDefault seccomp profile", ds.Name)
		}
		if sa := spec.ServiceAccountName; sa == "" || at("ServiceAccount", sa) > at("DaemonSet", ds.Name) {
			t.Errorf("DaemonSet %s: its ServiceAccount %q must be defined before it", ds.Name, sa)
		}
		for _, c := range spec.Containers {
			if strings.Contains(c.Image, "EDIT") || c.Image == "" {
				t.Errorf("DaemonSet %s: image %q", ds.Name, c.Image)
			}
		}
	}
	if ds := m.daemonSet(t, "xray-daemon"); !strings.HasPrefix(ds.Spec.Template.Spec.Containers[0].Image, "public.ecr.aws/xray/aws-xray-daemon:") {
		t.Errorf("the daemon's image %q: want AWS's public image", ds.Spec.Template.Spec.Containers[0].Image)
	}
}

// TestKubernetesRBAC: the agent's account may only read pods, and only the
// agent needs a token.
func TestKubernetesRBAC(t *testing.T) {
	m := readManifest(t)
	ds, _ := m.agent(t)
	sa := ds.Spec.Template.Spec.ServiceAccountName
	var roles []string
	for _, b := range m.bindings {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ds.Namespace && b.RoleRef.Kind == "ClusterRole" {
				roles = append(roles, b.RoleRef.Name)
			}
		}
	}
	if len(roles) != 1 {
		t.Fatalf("ServiceAccount %s is bound to roles %v, want exactly one ClusterRole", sa, roles)
	}
	for _, r := range m.roles {
		if r.Name != roles[0] {
			continue
		}
		if len(r.Rules) != 1 || r.AggregationRule != nil {
			t.Fatalf("ClusterRole %s: %d rules, want one", r.Name, len(r.Rules))
		}
		rule := r.Rules[0]
		verbs := slices.Clone(rule.Verbs)
		slices.Sort(verbs)
		if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"pods"}) ||
			!slices.Equal(verbs, []string{"get", "list", "watch"}) || len(rule.ResourceNames) != 0 || len(rule.NonResourceURLs) != 0 {
			t.Errorf("ClusterRole %s allows %+v, want only get, list and watch on pods", r.Name, rule)
		}
	}
	if len(m.bindings) != 1 || len(m.roles) != 1 {
		t.Errorf("%d bindings and %d roles: want only the agent's", len(m.bindings), len(m.roles))
	}
	// The token is mounted where the pod watch needs it, and only there.
	agentToken := ds.Spec.Template.Spec.AutomountServiceAccountToken
	if agentToken == nil {
		t.Error("the agent's pod must say automountServiceAccountToken")
	} else if kube := m.effectiveConfig(t)["kubernetes"]; *agentToken != isOn(kube) {
		t.Errorf("automountServiceAccountToken %v with kubernetes: %v: mount the token for the pod watch, and only then", *agentToken, kube)
	}
	for _, a := range m.accounts {
		if a.Name != sa && (a.AutomountServiceAccountToken == nil || *a.AutomountServiceAccountToken) {
			t.Errorf("ServiceAccount %s has no API access to use: set automountServiceAccountToken: false", a.Name)
		}
	}
}

// TestKubernetesDaemonService: the agent's daemon address names the
// daemon's Service, whose ports reach the daemon's pods; the agent's memory
// limit is its --max-memory-mb.
func TestKubernetesDaemonService(t *testing.T) {
	m := readManifest(t)
	conf := m.effectiveConfig(t)
	addr, err := emitter.ParseDaemonAddress(conf["daemon-address"].(string))
	if err != nil {
		t.Fatal(err)
	}
	daemon := m.daemonSet(t, "xray-daemon")
	dc := daemon.Spec.Template.Spec.Containers[0]
	for proto, hostPort := range map[corev1.Protocol]string{corev1.ProtocolUDP: addr.UDP, corev1.ProtocolTCP: addr.TCP} {
		host, portText, err := splitHostPort(hostPort)
		if err != nil {
			t.Fatal(err)
		}
		// name.namespace, with .svc and the cluster domain or without.
		host = strings.TrimSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc")
		name, ns, _ := strings.Cut(host, ".")
		port, _ := strconv.Atoi(portText)
		var svc *corev1.Service
		for _, s := range m.services {
			if s.Name == name && s.Namespace == ns {
				svc = s
			}
		}
		if svc == nil {
			t.Errorf("daemon address %s: no Service %s in namespace %q", hostPort, name, ns)
			continue
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(daemon.Spec.Template.Labels)) {
			t.Errorf("Service %s does not select the daemon's pods", svc.Name)
		}
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if p := &svc.Spec.Ports[i]; p.Protocol == proto && int(p.Port) == port {
				sp = p
			}
		}
		if sp == nil {
			t.Errorf("Service %s has no %s port %d for %s", svc.Name, proto, port, hostPort)
			continue
		}
		if !slices.ContainsFunc(dc.Ports, func(cp corev1.ContainerPort) bool {
			return cp.Protocol == proto && cp.ContainerPort == sp.TargetPort.IntVal
		}) {
			t.Errorf("Service %s's %s port targets %v, which the daemon's container does not declare", svc.Name, proto, sp.TargetPort)
		}
	}

	_, c := m.agent(t)
	mb, ok := conf["max-memory-mb"].(float64)
	if !ok {
		t.Fatalf("max-memory-mb %v", conf["max-memory-mb"])
	}
	want := resource.MustParse(strconv.Itoa(int(mb)) + "Mi")
	if lim := c.Resources.Limits.Memory(); lim.Cmp(want) != 0 {
		t.Errorf("memory limit %v, want --max-memory-mb %v MiB: the agent keeps its whole process under it", lim, mb)
	}
	if req := c.Resources.Requests.Memory(); req.Cmp(want) != 0 {
		t.Errorf("memory request %v, want %v MiB as the limit: a node must not run short of what the agent may use", req, mb)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		t.Error("NODE_NAME must come from the downward API (spec.nodeName)")
	}
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", os.ErrInvalid
	}
	return s[:i], s[i+1:], nil
}

// isOn reads "on" as config print writes it; this YAML decoder (YAML 1.1)
// takes a bare on for true.
func isOn(v any) bool { return v == "on" || v == true }
