// Package bench holds the side-by-side benchmark of actas against
// zitadel/oidc v3 doing the same RFC 8693 impersonation exchange. It is its
// own module so that the core module never depends on zitadel/oidc.
//
// Everything is in the tests: BenchmarkSideBySide posts the same token
// exchange request to both token endpoints in one process, and
// TestSideBySideBothIssue and TestSideBySideBothRefuse check that both
// issue the same kind of token and refuse the same requests. The script
// bench/run runs these and the core benchmarks and prints a summary; see
// README.md.
package bench
