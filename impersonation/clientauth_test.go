package impersonation_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
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

// TestRecord_FallbackAuditorGetsWhatTheAuditorLost: when the audit store
// fails, the exchange is refused and the event, with the failure, goes to
// the fallback auditor.
func TestRecord_FallbackAuditorGetsWhatTheAuditorLost(t *testing.T) {
	t.Parallel()
	fallback := memory.New()
	f := newFixture(t, withServiceOptions(impersonation.WithFallbackAuditor(fallback)))
	req := exchangeRequest(f.authorize(t, "alice", "bob"))
	f.auditor.Fail.Store(true)

	resp, err := f.svc.Exchange(context.Background(), clientApp(), req)
	require.Error(t, err)
	assert.Nil(t, resp, "nothing is issued that was not recorded")

	events := fallback.Events()
	require.NotEmpty(t, events)
	granted := events[0]
	assert.Equal(t, store.EventTokenExchanged, granted.Type, "the grant that could not be recorded")
	assert.Equal(t, store.OutcomeFailed, granted.Outcome)
	assert.Contains(t, granted.Reason, "audit store failed")
	assert.Equal(t, "bob", granted.Subject)
	assert.Equal(t, "alice", granted.Impersonator)
}
