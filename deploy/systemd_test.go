package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

const (
	unitFile   = "systemd/xray-capture.service"
	configFile = "systemd/config.yaml"
)

// unit is a unit file's settings: section, then key, then each value in
// order (a key may be given more than once).
type unit map[string]map[string][]string

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot read %q", unitFile, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one is the last value of a key, as systemd reads a single-valued one.
func (u unit) one(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// list is a list-valued key, all its assignments together.
func (u unit) list(section, key string) []string {
	var all []string
	for _, v := range u[section][key] {
		all = append(all, strings.Fields(v)...)
	}
	return all
}

// writableDirs are the directories the service can write under its sandbox
// settings, as systemd.exec(5) describes them: with ProtectSystem=strict
// the whole tree is read-only but for the directories of LogsDirectory=,
// StateDirectory=, CacheDirectory= and RuntimeDirectory= (made and owned by
// the service's user) and ReadWritePaths=; with DynamicUser= the user
// exists only while the service runs, so that only the directories systemd
// makes for it are its own. PrivateTmp= gives it its own /tmp and /var/tmp.
func (u unit) writableDirs(t *testing.T) []string {
	t.Helper()
	if u.one("Service", "ProtectSystem") != "strict" {
		t.Fatalf("ProtectSystem=%q: this check knows only strict", u.one("Service", "ProtectSystem"))
	}
	var dirs []string
	for key, base := range map[string]string{"LogsDirectory": "/var/log", "StateDirectory": "/var/lib",
		"CacheDirectory": "/var/cache", "RuntimeDirectory": "/run"} {
		for _, d := range u.list("Service", key) {
			dirs = append(dirs, filepath.Join(base, d))
		}
	}
	if u.one("Service", "DynamicUser") != "yes" {
		dirs = append(dirs, u.list("Service", "ReadWritePaths")...)
	}
	if u.one("Service", "PrivateTmp") == "yes" {
		dirs = append(dirs, "/tmp", "/var/tmp")
	}
	slices.Sort(dirs)
	return dirs
}

// configPath is the file ExecStart's --config names.
func (u unit) configPath(t *testing.T) string {
	t.Helper()
	f := strings.Fields(u.one("Service", "ExecStart"))
	i := slices.Index(f, "--config")
	if i < 0 || i+1 >= len(f) {
		t.Fatalf("ExecStart %q names no --config", f)
	}
	return f[i+1]
}

// outputPaths are the --output files the example configuration sets or
// suggests.
func outputPaths(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range regexp.MustCompile(`(?m)^[#\s]*output:\s*"?(/[^\s"]+)`).FindAllStringSubmatch(string(b), -1) {
		paths = append(paths, m[1])
	}
	if len(paths) == 0 {
		t.Fatalf("%s shows no output path", configFile)
	}
	return paths
}

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is required (Debian package systemd)")
	}
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := readUnit(t)
	for _, kv := range [][3]string{
		{"Service", "AmbientCapabilities", "CAP_NET_RAW CAP_BPF"},
		{"Service", "CapabilityBoundingSet", "CAP_NET_RAW CAP_BPF"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "DynamicUser", "yes"},
		// The binary reopens --output on SIGHUP (the e2e test
		// TestOutputAppendedAndReopenedOnSIGHUP; TestSystemdSandbox here).
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		// A missing configuration fails the start once, not every
		// RestartSec; a refused one stops after StartLimitBurst tries.
		{"Unit", "AssertPathExists", u.configPath(t)},
	} {
		if got := u.one(kv[0], kv[1]); got != kv[2] {
			t.Errorf("[%s] %s=%q, want %q", kv[0], kv[1], got, kv[2])
		}
	}
	if u.one("Service", "Restart") != "no" {
		burst, _ := strconv.Atoi(u.one("Unit", "StartLimitBurst"))
		if u.one("Unit", "StartLimitIntervalSec") == "" || burst < 1 {
			t.Error("Restart= without StartLimitIntervalSec= and StartLimitBurst= in [Unit]: a refused configuration restarts for ever")
		}
	}
	// The X-Ray daemon's unit first, where it exists.
	for _, key := range []string{"After", "Wants"} {
		if !slices.Contains(u.list("Unit", key), "xray.service") {
			t.Errorf("%s= lacks xray.service", key)
		}
	}
	// verify checks that ExecStart exists: point it at a real build.
	dir := t.TempDir()
	path := filepath.Join(dir, "xray-capture.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/xray-capture", binary(t))), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "xray-capture.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Every path the service is told to write is in a directory its sandbox
// lets it write: TestSystemdSandbox checks the same by running it.
func TestSystemdWritablePaths(t *testing.T) {
	u := readUnit(t)
	dirs := u.writableDirs(t)
	if !slices.Contains(dirs, "/var/log/xray-capture") {
		t.Errorf("writable directories %q: want /var/log/xray-capture (LogsDirectory=xray-capture)", dirs)
	}
	for _, p := range outputPaths(t) {
		if !slices.ContainsFunc(dirs, func(d string) bool { return strings.HasPrefix(p, d+"/") }) {
			t.Errorf("%s names output %s, which the unit cannot write: its writable directories are %q", configFile, p, dirs)
		}
		if strings.HasPrefix(p, "/tmp/") || strings.HasPrefix(p, "/var/tmp/") {
			t.Errorf("output %s: PrivateTmp=yes hides it from everyone else", p)
		}
	}
}

// configPrint runs "xray-capture config print --config file" with no
// XRAY_CAPTURE_* or AWS_* variables.
func configPrint(t *testing.T, file string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary(t), "config", "print", "--config", file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The example configuration names every option the binary has (a new flag
// must be added), and its commented lines are the binary's defaults.
func TestSystemdConfigExample(t *testing.T) {
	raw, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	printed, err := configPrint(t, configFile)
	if err != nil {
		t.Fatalf("xray-capture refuses %s: %v\n%s", configFile, err, printed)
	}
	for _, m := range regexp.MustCompile(`(?m)^([a-z0-9-]+):`).FindAllStringSubmatch(printed, -1) {
		if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(m[1]) + `:`).Match(raw) {
			t.Errorf("%s lacks option %q: add it (commented, with its default)", configFile, m[1])
		}
	}
	// Uncommented, the defaults change nothing.
	uncommented := regexp.MustCompile(`(?m)^# ([a-z0-9-]+: )`).ReplaceAll(raw, []byte("$1"))
	if bytes.Equal(uncommented, raw) {
		t.Fatalf("%s has no commented defaults", configFile)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, uncommented, 0o644)
	got, err := configPrint(t, path)
	if err != nil {
		t.Fatalf("with its commented lines uncommented, %s is refused: %v\n%s", configFile, err, got)
	}
	if got != printed {
		t.Errorf("a commented line of %s is not the default:\nas shipped:\n%s\nuncommented:\n%s", configFile, printed, got)
	}
}

// The unit's sandbox, made by hand where systemd is not PID 1 (as on CI):
// a mount namespace where every mount is read-only (ProtectSystem=strict)
// but the directories the unit names, made and owned by a user that exists
// nowhere else (DynamicUser=yes), with only the unit's ambient
// capabilities. The binary captures live with the example configuration,
// writes --output where the example suggests, and reopens it on the unit's
// ExecReload after a rotation.
func TestSystemdSandbox(t *testing.T) {
	testutil.Privileged(t)
	u := readUnit(t)
	const uid = "61899" // in systemd's DynamicUser range, 61184-65519
	bin := binary(t)

	// The example configuration, with --output where it suggests.
	var output string
	for _, p := range outputPaths(t) {
		if strings.HasPrefix(p, "/var/log/") {
			output = p
		}
	}
	if output == "" {
		t.Fatalf("%s suggests no output under /var/log", configFile)
	}
	raw, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(filepath.Dir(bin), "config.yaml")
	conf2 := string(raw) + fmt.Sprintf("output: %s\ndaemon-address: \"off\"\ninterface: lo\nsampling: false\n", output)
	if err := os.WriteFile(conf, []byte(conf2), 0o644); err != nil {
		t.Fatal(err)
	}

	// The app on the example's port, in a namespace of its own.
	ns := testutil.NewNetNS(t)
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:8080"); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var writable []string
	for _, d := range u.writableDirs(t) {
		if d != "/tmp" && d != "/var/tmp" {
			writable = append(writable, d)
		}
	}
	var caps []string
	for _, c := range u.list("Service", "AmbientCapabilities") {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	capList := strings.Join(caps, ",")
	// Each writable directory is made on a tmpfs of this namespace only,
	// owned by the user, as systemd makes it; then every other mount
	// becomes read-only.
	script := `
uid=$1 caps=$2; shift 2
mkdirs() { for d in $WRITABLE; do
  base=${d%/*}; mountpoint -q "$base" || mount -t tmpfs -o mode=0755 tmpfs "$base"
  mkdir -p -m 0750 "$d"; chown "$uid:$uid" "$d"; mount --bind "$d" "$d"; done; }
mkdirs
awk '{print $2}' /proc/self/mounts | sort -u | while read -r m; do
  case " $WRITABLE " in *" $m "*) continue;; esac
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac
  mount -o remount,bind,ro "$m"
done
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs \
  --inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" --bounding-set=-all,"$caps" -- "$@"`
	cmd := ns.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", uid, capList,
		bin, "--config", conf)
	cmd.Env = append(os.Environ(), "WRITABLE="+strings.Join(writable, " "))
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	// The chain execs all the way: the pid is the agent's ($MAINPID).
	pid := cmd.Process.Pid
	inside := func(p string) string { return fmt.Sprintf("/proc/%d/root%s", pid, p) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited:
				t.Fatalf("the agent exited while waiting for %s: %v\n%s", what, waitErr, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s:\n%s", what, stderr.String())
			}
		}
	}
	waitFor("capture start", func() bool { return strings.Contains(stderr.String(), "capturing") })
	lines := func(p string) int {
		b, _ := os.ReadFile(inside(p))
		return bytes.Count(b, []byte("\n"))
	}
	ns.Run(t, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:8080/before")
	waitFor("segment in "+output, func() bool { return lines(output) == 1 })

	// Not root any more, and nowhere else to write.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err != nil || !regexp.MustCompile(`(?m)^Uid:\s+`+uid+`\s`).Match(st) {
		t.Fatalf("the agent does not run as %s: %v\n%s", uid, err, st)
	}

	// systemctl reload after a rotation.
	if err := os.Rename(inside(output), inside(output+".1")); err != nil {
		t.Fatal(err)
	}
	reload := strings.Fields(strings.ReplaceAll(u.one("Service", "ExecReload"), "$MAINPID", strconv.Itoa(pid)))
	if out, err := exec.Command(reload[0], reload[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecReload %q: %v\n%s", reload, err, out)
	}
	waitFor("reopen after ExecReload", func() bool { return strings.Contains(stderr.String(), "--output reopened") })
	ns.Run(t, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:8080/after")
	waitFor("segment in the reopened "+output, func() bool { return lines(output) == 1 })
	if n := lines(output + ".1"); n != 1 {
		t.Errorf("the rotated file has %d segments, want 1", n)
	}
}
