// Package e2e runs the real xray-capture binary against real servers and
// clients in network namespaces joined by a veth pair, with a fake X-Ray
// daemon that checks datagrams as the real one does. The tests need root and
// XRAY_CAPTURE_PRIVILEGED=1; they fail, never skip, when that is set and
// they cannot run.
package e2e
