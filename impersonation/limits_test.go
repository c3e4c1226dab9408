package impersonation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

func TestLimits_ClientLifetimesAreCapped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.updateClient(t, appID, func(c *store.Client) {
		c.SubjectTokenTTL = 12 * time.Hour
		c.AccessTokenTTL = 30 * 24 * time.Hour
	})
	st, id := f.authorize(t, "alice", "bob")
	tok := testkit.DecodeJWT(t, st)
	assert.Equal(t, int64(authorizetoken.MaxTTL/time.Second), tok.Num(t, "exp")-tok.Num(t, "iat"))

	resp, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
	require.NoError(t, err)
	assert.Equal(t, int64(impersonation.MaxAccessTokenTTL/time.Second), resp.ExpiresIn)
	at := testkit.DecodeJWT(t, resp.AccessToken)
	assert.Equal(t, int64(impersonation.MaxAccessTokenTTL/time.Second), at.Num(t, "exp")-at.Num(t, "iat"))
}
