package impersonation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

func TestLimits_ClientLifetimesAreCapped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.updateClient(t, appID, func(c *store.Client) {
		c.SubjectTokenTTL = 12 * time.Hour
		c.AccessTokenTTL = 30 * 24 * time.Hour
	})
	st, id := f.authorize(t, "alice", "bob")
	tok := decodeJWT(t, st)
	assert.Equal(t, int64(subjecttoken.MaxTTL/time.Second), tok.num(t, "exp")-tok.num(t, "iat"))

	resp, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
	require.NoError(t, err)
	assert.Equal(t, int64(impersonation.MaxAccessTokenTTL/time.Second), resp.ExpiresIn)
	at := decodeJWT(t, resp.AccessToken)
	assert.Equal(t, int64(impersonation.MaxAccessTokenTTL/time.Second), at.num(t, "exp")-at.num(t, "iat"))
}
