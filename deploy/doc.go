// Package deploy holds the deployment files (a Kubernetes DaemonSet with its
// ConfigMap, a systemd unit) and the test that checks them: the manifests
// decode strictly into the Kubernetes API types with the security settings
// the README promises, their configuration is one xray-capture accepts, and
// systemd-analyze verifies the unit.
package deploy
