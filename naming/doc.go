// Package naming chooses the X-Ray segment name for a request, with the
// semantics of the X-Ray SDK middleware as docs/segments.md (Name) fixes them.
//
// In: the request's Host header bytes and the server side of its
// connection (address and port). Out: the name, appended to a caller's
// buffer. Fixed always gives the configured name. Services gives the name
// of the most specific Service that covers the server (an address or
// network with the port, then an address or network alone, longest prefix
// first, then the port alone; v4-mapped addresses stand for IPv4), and a
// fallback otherwise; ParseService reads a Service from its `SPEC=NAME`
// text. Dynamic gives the Host (a ":80" suffix removed) when it matches a
// `*`/`?` wildcard pattern case-insensitively, and its fallback (a Fixed
// or a Services) otherwise. Names are cleaned of the characters X-Ray
// rejects and cut to 200 characters.
//
// Namers are immutable after construction and safe for concurrent use. They
// do not retain the host bytes and do not allocate for ASCII hosts; a
// Services lookup costs a map lookup per distinct prefix length.
package naming
