package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

func TestPrivateKeyWithID(t *testing.T) {
	t.Parallel()
	k, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	hosts, err := k.WithID("host-key-2026-01")
	require.NoError(t, err)
	assert.Equal(t, "host-key-2026-01", hosts.ID)
	assert.Equal(t, "host-key-2026-01", hosts.Public().ID)
	assert.Equal(t, k.Algorithm, hosts.Algorithm)
	assert.NotEqual(t, hosts.ID, k.ID, "k itself keeps its thumbprint")
	for _, bad := range []string{"", "a b", "kid\n", "ключ", strings.Repeat("k", 257)} {
		_, err := k.WithID(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestKeysFuncs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	k, err = k.WithID("host-kid")
	require.NoError(t, err)
	old, err := store.GenerateKey(store.EdDSA)
	require.NoError(t, err)
	keys := store.KeysFuncs{
		Signing: func(context.Context) (store.PrivateKey, error) { return k, nil },
		Public: func(context.Context) ([]store.PublicKey, error) {
			return []store.PublicKey{k.Public(), old.Public()}, nil
		},
	}
	got, err := keys.SigningKey(ctx)
	require.NoError(t, err)
	assert.Equal(t, "host-kid", got.ID)
	pk, err := keys.PublicKey(ctx, old.ID)
	require.NoError(t, err)
	assert.Equal(t, store.EdDSA, pk.Algorithm)
	_, err = keys.PublicKey(ctx, "unknown")
	assert.ErrorIs(t, err, store.ErrNotFound)

	// A token signed with the host's key under the host's kid verifies
	// through the same functions.
	tok, err := jose.Sign(k, "JWT", map[string]any{"sub": "bob"})
	require.NoError(t, err)
	_, _, err = jose.Verify(ctx, tok, keys, jose.DefaultAlgorithms, "JWT")
	require.NoError(t, err)

	down := errors.New("key service down")
	failing := store.KeysFuncs{Public: func(context.Context) ([]store.PublicKey, error) { return nil, down }}
	_, err = failing.PublicKey(ctx, "host-kid")
	assert.ErrorIs(t, err, down)
	assert.NotErrorIs(t, err, store.ErrNotFound, "a failure is not a missing key")
	_, err = failing.SigningKey(ctx)
	assert.Error(t, err, "no Signing")
	_, err = store.KeysFuncs{}.PublicKeys(ctx)
	assert.Error(t, err, "no Public")
}
