package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWalkthrough runs the walkthrough as `go run` does and checks that
// every step is printed; run itself fails on any step that misbehaves.
func TestWalkthrough(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	got := out.String()
	for _, want := range []string{
		"/oauth2/authorize?client_id=acme-support-app",
		`"typ": "subject+jwt"`,
		`"may_act": {`,
		"grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
		`"typ": "at+jwt"`,
		`"org_id": "acme-eu"`,
		"200 bob (acted on by alice)",
		"refused: 400 invalid_request",
		"error=access_denied",
		"notice to Bob User",
		"event=impersonation.started",
		"event=token.exchanged",
		"event=token.replay_detected",
		"event=impersonation.denied",
		"reason=impersonator_lacks_role",
		"walkthrough OK",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, clientSecret, "the client secret is never printed")
}
