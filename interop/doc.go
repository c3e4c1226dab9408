// Package interop proves that clients and verifiers actas did not write
// work with it: its tests build the reference server (examples/server),
// start it on a free loopback port and drive it with
// github.com/coreos/go-oidc/v3 and the github.com/zitadel/oidc/v3 client.
// The Node half (openid-client and jose) lives in node/; interop/run runs
// both.
//
//	go test -count=1 ./interop/...   # from the repository root
//	interop/run                      # the Go and the Node tests
package interop
