package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIDTokenVerifier: the demo apps' relying-party check takes the
// impersonator's ID token and refuses the subject token beside it (typ
// subject+jwt: same issuer, same audience), a tampered token and one for
// another client.
func TestIDTokenVerifier(t *testing.T) {
	f, b := aliceBrowser(t)
	v := b.cliAuthorize("bob", "fragment")
	ids := f.s.app.ids
	ctx := t.Context()

	c, err := ids.verify(ctx, v.Get("id_token"), cliClientID)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	assert.Equal(t, "nonce-bob", c.Nonce)

	_, err = ids.verify(ctx, v.Get("subject_token"), cliClientID)
	require.Error(t, err, "a subject token is no login")
	assert.Contains(t, err.Error(), "typ")

	_, err = ids.verify(ctx, v.Get("id_token"), demoAppClientID)
	require.Error(t, err, "another client's ID token")

	tok := v.Get("id_token")
	i := strings.LastIndexByte(tok, '.')
	_, err = ids.verify(ctx, tok[:i+1]+"AAAA"+tok[i+5:], cliClientID)
	require.Error(t, err, "a broken signature")
}
