package testkit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// PublicJWK is the public half of key as a JWK object, as a JWKS endpoint
// serves it (for tokens that embed a key in their jwk header).
func PublicJWK(t testing.TB, key store.PrivateKey) map[string]any {
	t.Helper()
	b, err := store.MarshalJWKS([]store.PublicKey{key.Public()})
	require.NoError(t, err)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(b, &set))
	require.Len(t, set.Keys, 1)
	return set.Keys[0]
}
