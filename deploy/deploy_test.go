package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

var (
	buildOnce sync.Once
	binPath   string
	binErr    error
	binDir    string
)

// binary builds xray-capture once for the package's tests, in a directory
// any user can read (the sandbox test runs it as an unprivileged user).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "xray-capture-deploy"); binErr != nil {
			return
		}
		if binErr = os.Chmod(binDir, 0o755); binErr != nil {
			return
		}
		binPath, binErr = testutil.BuildBinary(binDir, "../cmd/xray-capture", "xray-capture")
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
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
