// Package naming chooses the X-Ray segment name for a request, with the
// semantics of the X-Ray SDK middleware as docs/segments.md (Name) fixes them.
//
// In: the request's Host header bytes. Out: the name, appended to a caller's
// buffer. Fixed always gives the configured name; Dynamic gives the Host
// (a ":80" suffix removed) when it matches a `*`/`?` wildcard pattern
// case-insensitively, and the fallback otherwise. Names are cleaned of the
// characters X-Ray rejects and cut to 200 characters.
//
// Namers are immutable after construction and safe for concurrent use. They
// do not retain the host bytes and do not allocate for ASCII hosts.
package naming
