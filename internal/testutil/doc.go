// Package testutil holds helpers shared by the tests of several packages: a
// fake X-Ray daemon that checks datagrams as the real one does, and golden
// file comparison. It is imported by tests only.
package testutil
