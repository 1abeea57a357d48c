package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

func binary(t *testing.T) string {
	t.Helper()
	b, err := testutil.BuildBinary(t.TempDir(), "../cmd/xray-capture", "xray-capture")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKubernetesManifest(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/xray-capture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm *corev1.ConfigMap
	var ds *appsv1.DaemonSet
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ConfigMap":
			cm = &corev1.ConfigMap{}
			err = yaml.UnmarshalStrict([]byte(doc), cm)
		case "DaemonSet":
			ds = &appsv1.DaemonSet{}
			err = yaml.UnmarshalStrict([]byte(doc), ds)
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s does not decode strictly: %v", meta.Kind, err)
		}
	}
	if cm == nil || ds == nil {
		t.Fatal("want a ConfigMap and a DaemonSet")
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Error("the DaemonSet must use the host network (with ClusterFirstWithHostNet DNS)")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil {
		t.Fatal("want an unprivileged container with explicit capabilities")
	}
	var add []string
	for _, cp := range sc.Capabilities.Add {
		add = append(add, string(cp))
	}
	sort.Strings(add)
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
	if spec.Volumes[0].ConfigMap == nil || spec.Volumes[0].ConfigMap.Name != cm.Name || c.VolumeMounts[0].MountPath != "/etc/xray-capture" {
		t.Error("the config volume must mount the ConfigMap at /etc/xray-capture")
	}
	daemon := ""
	for _, e := range c.Env {
		if e.Name == "AWS_XRAY_DAEMON_ADDRESS" {
			daemon = e.Value
		}
	}
	if !strings.HasSuffix(daemon, ":2000") {
		t.Errorf("AWS_XRAY_DAEMON_ADDRESS %q: want the daemon Service's port 2000", daemon)
	}
	// The ConfigMap's file is a configuration xray-capture accepts.
	conf := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(conf, []byte(cm.Data["config.yaml"]), 0o644)
	args := append([]string{"config", "print"}, c.Args...)
	args[len(args)-1] = conf
	out, err := exec.Command(binary(t), args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "service-name: my-service") {
		t.Errorf("xray-capture rejects the ConfigMap's configuration: %v\n%s", err, out)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the readiness probe must ask /healthz")
	}
}

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is required (Debian package systemd)")
	}
	unit, err := os.ReadFile("systemd/xray-capture.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AmbientCapabilities=CAP_NET_RAW CAP_BPF", "CapabilityBoundingSet=CAP_NET_RAW CAP_BPF",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	// verify checks that ExecStart exists: point it at a real build.
	dir := t.TempDir()
	bin := binary(t)
	path := filepath.Join(dir, "xray-capture.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/xray-capture", bin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "xray-capture.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
