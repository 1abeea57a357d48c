// Package sampling decides which requests become segments, with the X-Ray
// SDKs' rules (docs/segments.md, Sampling).
//
// In: one Request per HTTP request (Host with its port, method, path
// without the query, the segment's name and origin) and its start time,
// taken from the packet. Out: a Decision (sampled or not, and the name of
// the centralized rule that decided, if one did).
//
// Local applies the default rule (the first request each second, then 5%)
// or a local rules file (version 1 or 2), first match wins, each rule with
// its own reservoir keyed on the epoch second. Centralized applies the rules
// and quotas of the X-Ray service, fetched through the daemon's TCP proxy
// (GetSamplingRules every 5 minutes, SamplingTargets about every 10 seconds),
// and falls back to a Local while it has no rules younger than an hour.
//
// Request byte slices are read during Sample and not kept. Local is used by
// one goroutine; Centralized is safe for concurrent use (its pollers run in
// their own goroutine).
package sampling
