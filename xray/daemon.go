package xray

// DaemonHeader is the line the X-Ray daemon requires before each document
// in a datagram, newline included (docs/segments.md, Daemon datagram).
const DaemonHeader = `{"format":"json","version":1}` + "\n"

// MaxDocumentBytes is X-Ray's limit on one document; the daemon refuses a
// larger datagram.
const MaxDocumentBytes = 64000
