package impersonation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
)

// TestExchangeStreamKeepsOneTimeUseBounded runs a sustained stream of real
// exchanges across simulated time (the clock, never sleep) and checks that
// the memory store's used-jti set holds only the subject tokens still
// alive: it grows with the stream, and falls back once the earlier tokens
// have expired. (store/memory's TestUsedSetStaysBounded streams 100 000
// one-time uses the same way.)
func TestExchangeStreamKeepsOneTimeUseBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withKeyAlgorithm(store.EdDSA), withServiceOptions(
		impersonation.WithAuditor(discardAuditor{}), impersonation.WithNotifier(nil),
		impersonation.WithStartLimit(nil, 0, 0)))
	ctx := context.Background()
	exchange := func() {
		t.Helper()
		_, err := f.svc.Exchange(ctx, clientApp(), exchangeRequest(f.authorize(t, "alice", "bob")))
		require.NoError(t, err)
	}
	// 2 000 exchanges, 20 per simulated second: all still held.
	const first = 2000
	for i := range first {
		if i%20 == 0 {
			f.clock.Advance(time.Second)
		}
		exchange()
	}
	require.Equal(t, first, f.db.UsedLen(), "every used subject token is held while it could verify")

	// Every one of them expires (180 s + 30 s skew + the 60 s hold margin).
	f.clock.Advance(5 * time.Minute)
	for i := range 300 {
		if i%20 == 0 {
			f.clock.Advance(time.Second)
		}
		exchange()
	}
	assert.Less(t, f.db.UsedLen(), first, "expired entries were evicted")
	assert.LessOrEqual(t, f.db.UsedLen(), 300, "only the tokens of the second stream remain")
}
