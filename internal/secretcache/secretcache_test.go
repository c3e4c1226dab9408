package secretcache_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/secretcache"
	"github.com/actas/actas/store"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	hash, err := store.HashSecret("right", 1000)
	require.NoError(t, err)
	other, err := store.HashSecret("other", 1000)
	require.NoError(t, err)
	var c secretcache.Cache
	assert.False(t, c.Verify(hash, "wrong"), "a wrong secret before any match")
	assert.True(t, c.Verify(hash, "right"))
	assert.True(t, c.Verify(hash, "right"), "again, from the cache")
	assert.False(t, c.Verify(hash, "wrong"), "a wrong secret after a match")
	assert.False(t, c.Verify(hash, "righ"), "a prefix")
	assert.False(t, c.Verify(other, "right"), "the right secret for another hash")
	assert.True(t, c.Verify(other, "other"))
	assert.True(t, c.Verify(hash, "right"), "one entry per hash")
}
