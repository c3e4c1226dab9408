package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// The replay of docs/several-instances.md ("Running several instances",
// moved there from the README), between these markers, is a bash block that
// must work as written against two fresh instances of one issuer on one
// Redis and one PostgreSQL.
const (
	// severalInstancesDoc is the page that holds the replay, from the
	// repository's root.
	severalInstancesDoc   = "docs/several-instances.md"
	severalInstancesStart = "<!-- several-instances:start -->"
	severalInstancesEnd   = "<!-- several-instances:end -->"
	// The block's first two lines set the URLs of the two instances (the
	// first is the issuer of both), which the test overrides through the
	// environment.
	severalInstancesIssuer  = "ISSUER=${ISSUER:-http://127.0.0.1:8080}"
	severalInstancesIssuer2 = "ISSUER2=${ISSUER2:-http://127.0.0.1:8081}"
)

// TestReadmeSeveralInstances runs the replay of docs/several-instances.md
// (once the README's) with bash against two instances started as main
// starts them (run), on free ports, with the issuer of the first, the same
// keys and a Redis prefix and a PostgreSQL schema of their own: alice signs
// in and gets a subject token at instance 1, the same exchange goes to both
// at once, and exactly one answers 200 with an access token, the other 400
// invalid_request.
func TestReadmeSeveralInstances(t *testing.T) {
	bash := requireBashAndCurl(t)
	script := docBashBlock(t, severalInstancesDoc, severalInstancesStart, severalInstancesEnd)
	lines := strings.SplitN(script, "\n", 3)
	require.True(t, strings.HasPrefix(lines[0], severalInstancesIssuer) && strings.HasPrefix(lines[1], severalInstancesIssuer2),
		"the replay must start with %s and %s so that it runs as written and under this test", severalInstancesIssuer, severalInstancesIssuer2)
	require.Equal(t, 1, strings.Count(script, "127.0.0.1:8080"), "the replay must use $ISSUER, not the address, after its first line")
	require.Equal(t, 1, strings.Count(script, "127.0.0.1:8081"), "the replay must use $ISSUER2, not the address, after its second line")

	ss := newSharedStores(t)
	keys := sharedKeysDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// start runs one instance as main does, and returns its URL, its
	// stdout and a function that stops it and expects a clean stop.
	start := func(issuer string) (string, *testkit.SyncBuffer, func()) {
		cfg := config{Addr: "127.0.0.1:0", Issuer: issuer, KeysDir: keys, PasswordIterations: testPasswordIterations}
		ss.both(&cfg)
		url, stdout, _, stop := runServer(ctx, t, cfg)
		return url, stdout, stop
	}
	issuer, _, stop1 := start("")
	defer stop1()
	url2, stdout2, stop2 := start(issuer)
	defer stop2()
	require.NotEqual(t, issuer, url2)
	assert.Contains(t, stdout2.String(), "issuer: "+issuer+"\n", "instance 2 serves the issuer of instance 1")
	assert.Contains(t, stdout2.String(), "stores: one-time use of subject tokens, revocation, rate limits: Redis")

	output, err := runBash(ctx, bash, script, "ISSUER="+issuer, "ISSUER2="+url2)
	require.NoError(t, err, "the replay of %s failed:\n%s", severalInstancesDoc, output)
	t.Logf("the replay of %s printed:\n%s", severalInstancesDoc, output)

	assert.Contains(t, output, "POST /login: 303\n")
	answers := map[string]int{}
	for l := range strings.Lines(output) {
		for _, i := range []string{"1", "2"} {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "instance "+i+": "); ok {
				switch {
				case strings.HasPrefix(rest, `200 {"access_token":"`):
					answers["200"]++
				case strings.HasPrefix(rest, `400 {"error":"invalid_request"`):
					answers["400 invalid_request"]++
				default:
					answers[rest]++
				}
			}
		}
	}
	assert.Equal(t, map[string]int{"200": 1, "400 invalid_request": 1}, answers,
		"one instance issues, the other refuses the replay:\n%s", output)
	assert.Contains(t, output, "access tokens issued: 1\n")

	// The shared audit log has both: the exchange and the replay.
	events := ss.events(t)
	assert.Len(t, ofType(events, store.EventTokenExchanged), 1)
	assert.Len(t, ofType(events, store.EventReplayDetected), 1)
}
