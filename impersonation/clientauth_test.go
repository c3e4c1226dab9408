package impersonation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// TestAuthenticateClient_RememberedSecretStillChecked: after a secret has
// matched once (and is remembered), a wrong secret is still refused, and a
// rotated secret replaces the old one at once.
func TestAuthenticateClient_RememberedSecretStillChecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, f.svc.AuthenticateClient(ctx, appID, appSecret))
	require.NoError(t, f.svc.AuthenticateClient(ctx, appID, appSecret), "second time from the remembered digest")
	assert.Error(t, f.svc.AuthenticateClient(ctx, appID, appSecret+"x"))
	assert.Error(t, f.svc.AuthenticateClient(ctx, appID, ""))
	assert.Error(t, f.svc.AuthenticateClient(ctx, app2ID, appSecret), "app's secret is not app2's")
	assert.Error(t, f.svc.AuthenticateClient(ctx, "no-such-client", appSecret))

	hash, err := store.HashSecret("rotated-secret", store.ClientSecretIterations)
	require.NoError(t, err)
	f.updateClient(t, appID, func(c *store.Client) { c.SecretHash = hash })
	assert.Error(t, f.svc.AuthenticateClient(ctx, appID, appSecret), "the old secret stops working")
	assert.NoError(t, f.svc.AuthenticateClient(ctx, appID, "rotated-secret"))

	f.updateClient(t, appID, func(c *store.Client) { c.Disabled = true })
	assert.Error(t, f.svc.AuthenticateClient(ctx, appID, "rotated-secret"), "a disabled client is refused even with a remembered secret")
}
