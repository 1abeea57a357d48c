// Package deploy holds the deployment files (the Kubernetes manifest: the
// namespace, RBAC, the X-Ray daemon and its Service, the agent's DaemonSet
// and ConfigMap; a systemd unit with an example configuration) and the
// tests that check them: the manifest decodes strictly into the Kubernetes
// API types with the security settings the README promises, applies in
// order on an empty cluster, grants only reading pods, points the agent at
// the daemon's Service and limits its memory to its own ceiling; its
// configuration is one xray-capture accepts; systemd-analyze verifies the
// unit, the example configuration names every option with its default, and
// the binary, run in a copy of the unit's sandbox, can write --output and
// reopen it on the unit's reload. Its tests also hold the repository's
// entry points to one another: the Go version of go.mod in the README, the
// Dockerfile and the Vagrantfile; the README's test command in .ci/run and
// make test; the version stamp of the image.
package deploy
