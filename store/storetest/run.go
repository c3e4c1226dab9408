package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// Run runs every conformance test against fresh instances from h.
func Run(t *testing.T, h Harness) {
	t.Run("OneTimeUse", func(t *testing.T) { runOneTimeUse(t, h) })
	t.Run("Revocation", func(t *testing.T) { runRevocation(t, h) })
	t.Run("RateLimiter", func(t *testing.T) { runRateLimiter(t, h) })
	t.Run("AuditLog", func(t *testing.T) { runAuditLog(t, h) })
	t.Run("Directory", func(t *testing.T) { runDirectory(t, h) })
	t.Run("Sessions", func(t *testing.T) { runSessions(t, h) })
	t.Run("SubjectGrants", func(t *testing.T) { runSubjectGrants(t, h) })
}

func runSubjectGrants(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.SubjectGrants != nil }
	grant := func(in Instance, subject string, created time.Duration, l time.Duration) store.SubjectGrant {
		now := in.now().UTC().Truncate(time.Microsecond)
		return store.SubjectGrant{
			ID: id("grant"), Subject: subject, ClientID: "app", Impersonator: "alice",
			Created: now.Add(created), Expires: now.Add(l),
		}
	}
	equal := func(t *testing.T, want, got store.SubjectGrant) {
		t.Helper()
		assert.True(t, want.Created.Equal(got.Created), "Created %v, want %v", got.Created, want.Created)
		assert.True(t, want.Expires.Equal(got.Expires), "Expires %v, want %v", got.Expires, want.Expires)
		assert.True(t, want.Revoked.Equal(got.Revoked), "Revoked %v, want %v", got.Revoked, want.Revoked)
		got.Created, got.Expires, got.Revoked = want.Created, want.Expires, want.Revoked
		assert.Equal(t, want, got)
	}
	t.Run("PutListRevoke", func(t *testing.T) {
		in, _ := fresh(t, h, has, "SubjectGrants")
		ctx := context.Background()
		subject := id("bob")
		since := in.now()
		none, err := in.SubjectGrants.SubjectGrantsOf(ctx, subject, since)
		require.NoError(t, err)
		assert.Empty(t, none)

		older := grant(in, subject, -time.Minute, time.Hour)
		older.Impersonator = ""
		newer := grant(in, subject, 0, 24*time.Hour)
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, older))
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, newer))
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, grant(in, id("carol"), 0, time.Hour)))
		got, err := in.SubjectGrants.SubjectGrantsOf(ctx, subject, since)
		require.NoError(t, err)
		require.Len(t, got, 2, "only the subject's grants")
		equal(t, newer, got[0])
		equal(t, older, got[1])

		at := in.now().UTC().Truncate(time.Microsecond)
		revoked, err := in.SubjectGrants.RevokeSubjectGrant(ctx, subject, older.ID, at)
		require.NoError(t, err)
		want := older
		want.Revoked = at
		equal(t, want, *revoked)
		again, err := in.SubjectGrants.RevokeSubjectGrant(ctx, subject, older.ID, at.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, at.Equal(again.Revoked), "revoked once: the first time stays")
		got, err = in.SubjectGrants.SubjectGrantsOf(ctx, subject, since)
		require.NoError(t, err)
		require.Len(t, got, 2, "a revoked grant is still listed")
		equal(t, want, got[1])

		_, err = in.SubjectGrants.RevokeSubjectGrant(ctx, subject, id("grant"), at)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = in.SubjectGrants.RevokeSubjectGrant(ctx, id("carol"), newer.ID, at)
		assert.ErrorIs(t, err, store.ErrNotFound, "a grant is found only under its own subject")
	})
	t.Run("SinceLeavesOutTheExpired", func(t *testing.T) {
		in, _ := fresh(t, h, has, "SubjectGrants")
		ctx := context.Background()
		subject := id("bob")
		short := grant(in, subject, 0, time.Minute)
		long := grant(in, subject, 0, time.Hour)
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, short))
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, long))
		got, err := in.SubjectGrants.SubjectGrantsOf(ctx, subject, in.now().Add(30*time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, long.ID, got[0].ID)
	})
	t.Run("ReplaceByID", func(t *testing.T) {
		in, _ := fresh(t, h, has, "SubjectGrants")
		ctx := context.Background()
		g := grant(in, id("bob"), 0, time.Hour)
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, g))
		g.Impersonator = "dave"
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, g))
		got, err := in.SubjectGrants.SubjectGrantsOf(ctx, g.Subject, in.now())
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, "dave", got[0].Impersonator)
	})
	t.Run("ConcurrentRevokeKeepsTheFirst", func(t *testing.T) {
		in, _ := fresh(t, h, has, "SubjectGrants")
		ctx := context.Background()
		g := grant(in, id("bob"), 0, time.Hour)
		require.NoError(t, in.SubjectGrants.PutSubjectGrant(ctx, g))
		base := in.now().UTC().Truncate(time.Microsecond)
		var wg sync.WaitGroup
		results := make([]time.Time, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := in.SubjectGrants.RevokeSubjectGrant(ctx, g.Subject, g.ID, base.Add(time.Duration(i)*time.Second))
				if assert.NoError(t, err) {
					results[i] = r.Revoked
				}
			}()
		}
		wg.Wait()
		for _, r := range results[1:] {
			assert.True(t, results[0].Equal(r), "every caller sees the one revocation time: %v", results)
		}
	})
}

func runSessions(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.Sessions != nil }
	session := func(in Instance, login string, l time.Duration) store.ImpersonationSession {
		now := in.now().UTC().Truncate(time.Microsecond)
		return store.ImpersonationSession{
			ID: id("isid"), LoginSession: login, Impersonator: "alice", Subject: "bob", ClientID: "app",
			Org: "acme-eu", Reason: "ticket 4711", Started: now, Expires: now.Add(l),
			StartTokenID: id("jti"), StartTokenExpiry: now.Add(time.Hour),
		}
	}
	t.Run("PutGetReplaceDelete", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Sessions")
		ctx := context.Background()
		login := id("login")
		_, err := in.Sessions.SessionFor(ctx, login)
		require.ErrorIs(t, err, store.ErrNotFound)
		s := session(in, login, time.Hour)
		require.NoError(t, in.Sessions.PutSession(ctx, s))
		got, err := in.Sessions.SessionFor(ctx, login)
		require.NoError(t, err)
		assert.True(t, s.Started.Equal(got.Started) && s.Expires.Equal(got.Expires) && s.StartTokenExpiry.Equal(got.StartTokenExpiry))
		got.Started, got.Expires, got.StartTokenExpiry = s.Started, s.Expires, s.StartTokenExpiry
		assert.Equal(t, s, *got)

		s2 := session(in, login, time.Hour)
		s2.Subject = "carol"
		require.NoError(t, in.Sessions.PutSession(ctx, s2))
		got, err = in.Sessions.SessionFor(ctx, login)
		require.NoError(t, err)
		assert.Equal(t, "carol", got.Subject, "one session per login session: replaced")

		_, err = in.Sessions.SessionFor(ctx, id("login"))
		assert.ErrorIs(t, err, store.ErrNotFound, "login sessions are independent")
		require.NoError(t, in.Sessions.DeleteSession(ctx, login))
		_, err = in.Sessions.SessionFor(ctx, login)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.NoError(t, in.Sessions.DeleteSession(ctx, login), "deleting nothing is no error")
	})
	t.Run("ExpiredSessionIsGone", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Sessions")
		ctx := context.Background()
		login := id("login")
		l := life(in)
		require.NoError(t, in.Sessions.PutSession(ctx, session(in, login, l)))
		in.expire(t, l, func() bool {
			_, err := in.Sessions.SessionFor(ctx, login)
			return errors.Is(err, store.ErrNotFound)
		})
	})
}

// now returns the instance's current time.
func (in Instance) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// shortLife is the lifetime used for expiry tests on real time.
const shortLife = 1500 * time.Millisecond

// expire makes something that lives until exp expire: on the instance's
// clock when it can move it, otherwise by waiting (bounded) until check
// reports the thing gone.
func (in Instance) expire(t *testing.T, life time.Duration, check func() bool) {
	t.Helper()
	if in.Advance != nil {
		in.Advance(life)
		require.True(t, check(), "expired after the clock moved by its lifetime")
		return
	}
	deadline := time.Now().Add(life + 10*time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("still not expired %s after its lifetime", 10*time.Second)
		}
		time.Sleep(50 * time.Millisecond) // real time: the store's own clock must pass
	}
}

func life(in Instance) time.Duration {
	if in.Advance != nil {
		return time.Hour
	}
	return shortLife
}

func fresh(t *testing.T, h Harness, need func(Stores) bool, what string) (Instance, bool) {
	t.Helper()
	in := h(t)
	if !need(in.Stores) {
		t.Skip("no " + what + " under test")
		return in, false
	}
	return in, true
}

var uniq atomic.Int64

// id returns an ID unique in this process, so that instances sharing a
// server never collide even if isolation is imperfect.
func id(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), uniq.Add(1))
}

func runOneTimeUse(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.OneTimeUse != nil }
	t.Run("FirstUseWinsSecondIsReplay", func(t *testing.T) {
		in, _ := fresh(t, h, has, "OneTimeUse")
		ctx := context.Background()
		jti := id("jti")
		exp := in.now().Add(time.Hour)
		require.NoError(t, in.OneTimeUse.Use(ctx, jti, exp))
		assert.ErrorIs(t, in.OneTimeUse.Use(ctx, jti, exp), store.ErrAlreadyUsed)
		assert.ErrorIs(t, in.OneTimeUse.Use(ctx, jti, exp.Add(time.Hour)), store.ErrAlreadyUsed, "a later expiry does not reopen it")
		assert.NoError(t, in.OneTimeUse.Use(ctx, id("other"), exp), "IDs are independent")
	})
	t.Run("ConcurrentUseExactlyOneWins", func(t *testing.T) {
		in, _ := fresh(t, h, has, "OneTimeUse")
		jti := id("jti")
		exp := in.now().Add(time.Hour)
		var wins, replays atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := in.OneTimeUse.Use(context.Background(), jti, exp); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrAlreadyUsed):
					replays.Add(1)
				default:
					t.Errorf("Use: %v", err)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(1), wins.Load())
		assert.Equal(t, int32(49), replays.Load())
	})
	t.Run("ExpiredEntryNoLongerBlocks", func(t *testing.T) {
		in, _ := fresh(t, h, has, "OneTimeUse")
		ctx := context.Background()
		jti := id("jti")
		l := life(in)
		require.NoError(t, in.OneTimeUse.Use(ctx, jti, in.now().Add(l)))
		in.expire(t, l, func() bool {
			return in.OneTimeUse.Use(ctx, jti, in.now().Add(time.Hour)) == nil
		})
		assert.ErrorIs(t, in.OneTimeUse.Use(ctx, jti, in.now().Add(time.Hour)), store.ErrAlreadyUsed, "held again by its new expiry")
	})
}

func runRevocation(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.Revocation != nil }
	t.Run("RevokeThenRevoked", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Revocation")
		ctx := context.Background()
		jti := id("at")
		revoked, err := in.Revocation.Revoked(ctx, jti)
		require.NoError(t, err)
		assert.False(t, revoked, "nothing is revoked by default")
		require.NoError(t, in.Revocation.Revoke(ctx, jti, in.now().Add(time.Hour)))
		revoked, err = in.Revocation.Revoked(ctx, jti)
		require.NoError(t, err)
		assert.True(t, revoked)
		require.NoError(t, in.Revocation.Revoke(ctx, jti, in.now().Add(time.Hour)), "revoking twice is harmless")
		other, err := in.Revocation.Revoked(ctx, id("at"))
		require.NoError(t, err)
		assert.False(t, other, "IDs are independent")
	})
	t.Run("ForgottenAfterExpiry", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Revocation")
		ctx := context.Background()
		jti := id("at")
		l := life(in)
		require.NoError(t, in.Revocation.Revoke(ctx, jti, in.now().Add(l)))
		in.expire(t, l, func() bool {
			revoked, err := in.Revocation.Revoked(ctx, jti)
			require.NoError(t, err)
			return !revoked
		})
	})
}

func runRateLimiter(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.RateLimiter != nil }
	t.Run("AllowsUpToTheLimitPerWindow", func(t *testing.T) {
		in, _ := fresh(t, h, has, "RateLimiter")
		ctx := context.Background()
		key, other := id("alice"), id("bob")
		per := time.Hour
		if in.Advance == nil {
			per = shortLife
		}
		// Start at the beginning of a window so it cannot end mid-test.
		if in.Advance != nil {
			in.Advance(in.now().Truncate(per).Add(per).Sub(in.now()))
		}
		var allowed []bool
		for range 4 {
			ok, err := in.RateLimiter.Allow(ctx, key, 3, per)
			require.NoError(t, err)
			allowed = append(allowed, ok)
		}
		if in.Advance != nil {
			assert.Equal(t, []bool{true, true, true, false}, allowed)
		} else {
			// On real time a window may end during the loop, allowing
			// the fourth call; never fewer than the limit.
			assert.GreaterOrEqual(t, countTrue(allowed), 3)
		}
		ok, err := in.RateLimiter.Allow(ctx, other, 3, per)
		require.NoError(t, err)
		assert.True(t, ok, "keys are counted apart")
		in.expire(t, per, func() bool {
			ok, err := in.RateLimiter.Allow(ctx, key, 3, per)
			require.NoError(t, err)
			return ok
		})
	})
	t.Run("ConcurrentCallsAllowExactlyTheLimit", func(t *testing.T) {
		in, _ := fresh(t, h, has, "RateLimiter")
		key := id("k")
		per := time.Hour
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				allowed, err := in.RateLimiter.Allow(context.Background(), key, 10, per)
				if err != nil {
					t.Errorf("Allow: %v", err)
				}
				if allowed {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		// An hour-long window can only end mid-test on real time, at most once.
		if in.Advance != nil {
			assert.Equal(t, int32(10), ok.Load())
		} else {
			assert.GreaterOrEqual(t, ok.Load(), int32(10))
			assert.LessOrEqual(t, ok.Load(), int32(20))
		}
	})
}

func countTrue(v []bool) int {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return n
}

func runAuditLog(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.Auditor != nil && s.AuditLog != nil }
	t.Run("EveryFieldRoundTrips", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		ctx := context.Background()
		e := store.Event{
			Type: store.EventTokenExchanged, Time: in.now().UTC().Truncate(time.Microsecond),
			ClientID: "app", Impersonator: "alice", Subject: "bob", Org: "acme-eu", JTI: id("jti"),
			Scopes: []string{"openid", "orders:read"}, Outcome: store.OutcomeGranted, Reason: "because",
			Method: "POST", Path: "/api/orders", Justification: "ticket 4711 — ünïcode",
			Parent: id("st"), Expires: in.now().UTC().Add(time.Hour).Truncate(time.Microsecond),
		}
		require.NoError(t, in.Auditor.Record(ctx, e))
		got, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.True(t, e.Time.Equal(got[0].Time), "time %s, got %s", e.Time, got[0].Time)
		assert.True(t, e.Expires.Equal(got[0].Expires), "expires %s, got %s", e.Expires, got[0].Expires)
		assert.NotEmpty(t, got[0].Cursor, "QueryEvents sets the cursor")
		got[0].Time, got[0].Expires, got[0].Cursor = e.Time, e.Expires, ""
		assert.Equal(t, e, got[0])
	})
	t.Run("ZeroExpiresStaysZero", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		ctx := context.Background()
		require.NoError(t, in.Auditor.Record(ctx, store.Event{Type: store.EventReplayDetected, Time: in.now(), JTI: id("jti")}))
		got, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.True(t, got[0].Expires.IsZero(), "got %s", got[0].Expires)
		assert.Empty(t, got[0].Parent)
	})
	t.Run("QueriesSelectAndOrder", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		ctx := context.Background()
		base := in.now().UTC().Truncate(time.Second)
		who := [][2]string{{"alice", "bob"}, {"alice", "carol"}, {"dave", "bob"}, {"", "alice"}, {"alice", "bob"}}
		// Recorded out of time order: the log orders by time.
		offsets := []int{3, 1, 4, 0, 2}
		types := []store.EventType{store.EventImpersonationStarted, store.EventTokenExchanged, store.EventImpersonationStarted, store.EventImpersonationEnded, store.EventTokenExchanged}
		var all []store.Event
		for i, w := range who {
			e := store.Event{
				Type: types[i], Time: base.Add(time.Duration(offsets[i]) * time.Minute),
				Impersonator: w[0], Subject: w[1], Outcome: store.OutcomeGranted, JTI: id("jti"),
			}
			if i > 0 {
				e.Parent = all[i-1].JTI
			}
			require.NoError(t, in.Auditor.Record(ctx, e))
			all = append(all, e)
		}
		byJTI := map[string]store.Event{}
		for _, e := range all {
			byJTI[e.JTI] = e
		}
		slices.SortStableFunc(all, func(a, b store.Event) int { return a.Time.Compare(b.Time) })
		queries := map[string]store.AuditQuery{
			"everything":               {},
			"user bob":                 {User: "bob"},
			"user alice (either side)": {User: "alice"},
			"subject bob":              {Subject: "bob"},
			"impersonator alice":       {Impersonator: "alice"},
			"between T1 and T3":        {From: base.Add(time.Minute), To: base.Add(3 * time.Minute)},
			"user bob from T2":         {User: "bob", From: base.Add(2 * time.Minute)},
			"first two":                {Limit: 2},
			"nobody":                   {User: "zed"},
			"one type":                 {Types: []store.EventType{store.EventTokenExchanged}},
			"two types":                {Types: []store.EventType{store.EventTokenExchanged, store.EventImpersonationEnded}},
			"a type nobody recorded":   {Types: []store.EventType{store.EventLoggedOut}},
			"subject bob, one type":    {Subject: "bob", Types: []store.EventType{store.EventImpersonationStarted}},
			"by JTI or Parent":         {IDs: []string{all[2].JTI}},
			"by two IDs":               {IDs: []string{all[0].JTI, all[4].JTI}},
			"by an ID nobody recorded": {IDs: []string{"no-such-jti"}},
			"an empty ID":              {IDs: []string{""}},
			"by IDs, one type":         {IDs: []string{all[1].JTI}, Types: []store.EventType{store.EventTokenExchanged}},
			"newest first":             {NewestFirst: true},
			"newest two":               {NewestFirst: true, Limit: 2},
			"subject bob newest first": {Subject: "bob", NewestFirst: true},
		}
		for name, q := range queries {
			got, err := in.AuditLog.QueryEvents(ctx, q)
			require.NoError(t, err, name)
			order := all
			if q.NewestFirst {
				order = slices.Clone(all)
				slices.Reverse(order)
			}
			var want []string
			for _, e := range order {
				if q.Matches(e) && (q.Limit == 0 || len(want) < q.Limit) {
					want = append(want, e.JTI)
				}
			}
			for _, e := range got {
				assert.Equal(t, byJTI[e.JTI].Parent, e.Parent, "%s: parent of %s", name, e.JTI)
			}
			var gotIDs []string
			for _, e := range got {
				gotIDs = append(gotIDs, e.JTI)
			}
			assert.Equal(t, want, gotIDs, name)
		}
	})
	t.Run("PagesByCursor", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		runAuditPaging(t, in)
	})
	t.Run("InvalidCursorIsRefused", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		ctx := context.Background()
		require.NoError(t, in.Auditor.Record(ctx, store.Event{Type: store.EventImpersonationStarted, Time: in.now(), JTI: id("jti")}))
		for _, bad := range []string{"x", "-1", "1.5", " 1", "1 ", "\x00", "99999999999999999999999999", "a.b.c", "1e3"} {
			for _, newest := range []bool{false, true} {
				got, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{After: bad, NewestFirst: newest})
				assert.ErrorIs(t, err, store.ErrInvalidCursor, "cursor %q (newest first %t)", bad, newest)
				assert.Empty(t, got, "cursor %q", bad)
			}
		}
	})
	t.Run("ScopeConfinesToOrganisations", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		runAuditScope(t, in)
	})
	t.Run("ConcurrentRecordsAllKept", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Auditor and AuditLog")
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := in.Auditor.Record(ctx, store.Event{Type: store.EventReplayDetected, Time: in.now(), JTI: fmt.Sprint("c", i), Outcome: store.OutcomeDenied})
				if err != nil {
					t.Errorf("Record: %v", err)
				}
			}()
		}
		wg.Wait()
		got, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{})
		require.NoError(t, err)
		assert.Len(t, got, 50)
	})
}

func runDirectory(t *testing.T, h Harness) {
	has := func(s Stores) bool { return s.Directory != nil }
	client := store.Client{
		ID: "app", Name: "The App", SecretHash: "pbkdf2-sha256$1000$c2FsdA$aGFzaA",
		RedirectURIs:  []string{"https://app.example/cb", "https://app.example/cb2"},
		Scopes:        []string{"openid", "internal_user_impersonate", "orders:read"},
		GrantTypes:    []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
		Impersonation: true, ResponseModes: []string{"fragment", "form_post"},
		Audiences:       []string{"https://api.example"},
		SubjectTokenTTL: 2 * time.Minute, AccessTokenTTL: 30 * time.Minute, RefreshTokens: true,
		PostLogoutRedirectURIs: []string{"https://app.example/signed-out", "https://app.example/bye?x=1"},
		SkipLogoutConsent:      true,
		ReasonRequired:         true,
		RequireSubjectGrant:    true,
	}
	seed := func(t *testing.T, d Directory) {
		t.Helper()
		ctx := context.Background()
		require.NoError(t, d.PutOrganization(ctx, store.Organization{ID: "acme", Name: "ACME"}))
		require.NoError(t, d.PutOrganization(ctx, store.Organization{ID: "acme-eu", Name: "ACME EU", Parent: "acme"}))
		require.NoError(t, d.PutUser(ctx, store.User{ID: "alice", Username: "alice", Name: "Alice", Email: "alice@acme.example", Org: "acme"}))
		require.NoError(t, d.PutUser(ctx, store.User{ID: "bob", Username: "bob", Org: "acme-eu", Disabled: true}))
		require.NoError(t, d.PutClient(ctx, client))
		require.NoError(t, d.PutClient(ctx, store.Client{ID: "app2", Disabled: true}))
		require.NoError(t, d.PutRole(ctx, store.Role{Name: "admin", ClientID: "app", Scopes: []string{"internal_user_impersonate", "openid"}, Users: []string{"alice"}}))
		require.NoError(t, d.PutRole(ctx, store.Role{Name: "reader", ClientID: "app", Scopes: []string{"openid", "orders:read"}, Users: []string{"alice", "bob"}}))
		require.NoError(t, d.PutRole(ctx, store.Role{Name: "other", ClientID: "app2", Scopes: []string{"x"}, Users: []string{"alice"}}))
	}
	t.Run("LookupsReturnWhatWasPut", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Directory")
		d := in.Directory
		seed(t, d)
		ctx := context.Background()
		c, err := d.Client(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, client, *c)
		c2, err := d.Client(ctx, "app2")
		require.NoError(t, err)
		assert.True(t, c2.Disabled)
		u, err := d.User(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, store.User{ID: "alice", Username: "alice", Name: "Alice", Email: "alice@acme.example", Org: "acme"}, *u)
		b, err := d.User(ctx, "bob")
		require.NoError(t, err)
		assert.True(t, b.Disabled)
		o, err := d.Organization(ctx, "acme-eu")
		require.NoError(t, err)
		assert.Equal(t, store.Organization{ID: "acme-eu", Name: "ACME EU", Parent: "acme"}, *o)

		_, err = d.Client(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = d.User(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = d.Organization(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("GrantsAreTheUnionOfTheRolesForOneClient", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Directory")
		seed(t, in.Directory)
		ctx := context.Background()
		got, err := in.Directory.GrantedScopes(ctx, "app", "alice")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"internal_user_impersonate", "openid", "orders:read"}, got)
		got, err = in.Directory.GrantedScopes(ctx, "app", "bob")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"openid", "orders:read"}, got)
		got, err = in.Directory.GrantedScopes(ctx, "app2", "bob")
		require.NoError(t, err)
		assert.Empty(t, got, "a role for another client grants nothing")
		got, err = in.Directory.GrantedScopes(ctx, "app", "nobody")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	t.Run("ReplacingARoleChangesTheGrants", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Directory")
		seed(t, in.Directory)
		ctx := context.Background()
		require.NoError(t, in.Directory.PutRole(ctx, store.Role{Name: "admin", ClientID: "app", Scopes: []string{"openid"}, Users: []string{"alice"}}))
		got, err := in.Directory.GrantedScopes(ctx, "app", "alice")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"openid", "orders:read"}, got, "alice lost internal_user_impersonate")
	})
	t.Run("ReturnedValuesAreCopies", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Directory")
		seed(t, in.Directory)
		ctx := context.Background()
		c, err := in.Directory.Client(ctx, "app")
		require.NoError(t, err)
		c.RedirectURIs[0] = "https://evil.example/cb"
		again, err := in.Directory.Client(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, "https://app.example/cb", again.RedirectURIs[0])
		c.PostLogoutRedirectURIs[0] = "https://evil.example/signed-out"
		again, err = in.Directory.Client(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, "https://app.example/signed-out", again.PostLogoutRedirectURIs[0])
	})
	t.Run("PutRefusesBrokenReferences", func(t *testing.T) {
		in, _ := fresh(t, h, has, "Directory")
		seed(t, in.Directory)
		d := in.Directory
		ctx := context.Background()
		assert.ErrorIs(t, d.PutOrganization(ctx, store.Organization{ID: "x", Parent: "missing"}), store.ErrNotFound)
		assert.Error(t, d.PutOrganization(ctx, store.Organization{ID: "acme", Parent: "acme-eu"}), "acme would be its own ancestor")
		assert.Error(t, d.PutOrganization(ctx, store.Organization{ID: "self", Parent: "self"}))
		assert.ErrorIs(t, d.PutUser(ctx, store.User{ID: "x", Org: "missing"}), store.ErrNotFound)
		assert.ErrorIs(t, d.PutRole(ctx, store.Role{Name: "r", ClientID: "missing"}), store.ErrNotFound)
		assert.Error(t, d.PutClient(ctx, store.Client{}), "a client needs an ID")
		o, err := d.Organization(ctx, "acme")
		require.NoError(t, err)
		assert.Empty(t, o.Parent, "a refused put changes nothing")
	})
}

// runAuditPaging records events of two subjects, several sharing one
// Time and some recorded out of time order, and reads them a page at a
// time in both orders, with and without criteria: the pages, joined, are
// exactly the one-query answer, every event once, and a cursor read
// again gives the same page.
func runAuditPaging(t *testing.T, in Instance) {
	ctx := context.Background()
	base := in.now().UTC().Truncate(time.Second)
	// Minute offsets: ties at 2 and 5, and out of order.
	offsets := []int{2, 0, 5, 2, 1, 5, 2, 7, 3, 5, 0}
	for i, off := range offsets {
		subject := "bob"
		if i%3 == 1 {
			subject = "carol"
		}
		require.NoError(t, in.Auditor.Record(ctx, store.Event{
			Type: store.EventImpersonationStarted, Time: base.Add(time.Duration(off) * time.Minute),
			Subject: subject, Impersonator: "alice", JTI: fmt.Sprint("e", i), Outcome: store.OutcomeGranted,
		}))
	}
	jtis := func(events []store.Event) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.JTI)
		}
		return out
	}
	tests := []struct {
		name string
		q    store.AuditQuery
	}{
		{name: "oldest first", q: store.AuditQuery{}},
		{name: "newest first", q: store.AuditQuery{NewestFirst: true}},
		{name: "subject bob newest first", q: store.AuditQuery{Subject: "bob", NewestFirst: true}},
		{name: "subject carol oldest first", q: store.AuditQuery{Subject: "carol"}},
		{name: "newest first before minute 5", q: store.AuditQuery{NewestFirst: true, To: base.Add(5 * time.Minute)}},
	}
	for _, tc := range tests {
		whole, err := in.AuditLog.QueryEvents(ctx, tc.q)
		require.NoError(t, err, tc.name)
		require.NotEmpty(t, whole, tc.name)
		for i := 1; i < len(whole); i++ {
			c := whole[i-1].Time.Compare(whole[i].Time)
			if tc.q.NewestFirst {
				assert.GreaterOrEqual(t, c, 0, "%s: newest first", tc.name)
			} else {
				assert.LessOrEqual(t, c, 0, "%s: oldest first", tc.name)
			}
		}
		for _, size := range []int{1, 2, 3, len(whole), len(whole) + 1} {
			var pages []store.Event
			q := tc.q
			q.Limit = size
			for range len(whole) + 2 {
				page, err := in.AuditLog.QueryEvents(ctx, q)
				require.NoError(t, err, "%s, pages of %d", tc.name, size)
				assert.LessOrEqual(t, len(page), size)
				if len(page) == 0 {
					break
				}
				again, err := in.AuditLog.QueryEvents(ctx, q)
				require.NoError(t, err)
				assert.Equal(t, jtis(page), jtis(again), "%s, pages of %d: a cursor reads the same page again", tc.name, size)
				pages = append(pages, page...)
				q.After = page[len(page)-1].Cursor
				require.NotEmpty(t, q.After)
			}
			assert.Equal(t, jtis(whole), jtis(pages), "%s, pages of %d", tc.name, size)
		}
	}
	// A cursor is a position: one from another selection, used with this
	// one, continues from that position.
	newest, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{NewestFirst: true})
	require.NoError(t, err)
	carol := newest[0] // e7 at minute 7 is carol's (7 % 3 == 1)
	require.Equal(t, "e7", carol.JTI)
	got, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{Subject: "bob", NewestFirst: true, After: carol.Cursor, Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"e9", "e5"}, jtis(got), "bob's newest two older than carol's e7, ties latest recorded first")
	oldest, err := in.AuditLog.QueryEvents(ctx, store.AuditQuery{After: newest[len(newest)-1].Cursor})
	require.NoError(t, err)
	assert.Equal(t, jtis(newest[:len(newest)-1]), jtis(reversed(oldest)), "oldest first after the oldest event: all but it")
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// runAuditScope records the events of two tenants, acme (acme and its
// child acme-eu) and globex (globex and globex-uk), and checks that a
// scoped query returns exactly the events of the organisations it names
// plus those about its user: never an event of the other tenant, and
// never an event without an organisation through Orgs.
func runAuditScope(t *testing.T, in Instance) {
	ctx := context.Background()
	base := in.now().UTC().Truncate(time.Second)
	events := []store.Event{
		{JTI: "acme", Impersonator: "alice", Subject: "frank", Org: "acme"},
		{JTI: "acme-eu", Impersonator: "alice", Subject: "bob", Org: "acme-eu"},
		{JTI: "acme-eu-by-eve", Impersonator: "eve", Subject: "bob", Org: "acme-eu"},
		{JTI: "globex", Impersonator: "gina", Subject: "dave", Org: "globex", Justification: "globex ticket"},
		{JTI: "globex-uk", Impersonator: "gina", Subject: "gus", Org: "globex-uk"},
		// alice's refusal before the subject was resolved (no Org).
		{JTI: "alice-refused", Type: store.EventImpersonationDenied, Impersonator: "alice", Subject: "dave", Reason: "subject_outside_organization"},
		// alice acting on a globex user: globex's event (its user) and
		// alice's own.
		{JTI: "alice-in-globex", Impersonator: "alice", Subject: "dave", Org: "globex"},
		// gina's refusal naming an acme user, before it was resolved: no
		// tenant can be sure it is theirs.
		{JTI: "gina-refused", Type: store.EventImpersonationDenied, Impersonator: "gina", Subject: "bob", Reason: "subject_outside_organization", Justification: "globex ticket"},
		{JTI: "refused", Type: store.EventRequestRefused, Reason: "invalid_request", Method: "POST", Path: "/token"},
		{JTI: "look-alike", Impersonator: "mallory", Subject: "max", Org: "acme-euro"},
		{JTI: "upper-case", Impersonator: "mallory", Subject: "max", Org: "ACME"},
	}
	for i := range events {
		e := &events[i]
		if e.Type == "" {
			e.Type = store.EventImpersonationStarted
		}
		e.Time = base.Add(time.Duration(i) * time.Minute)
		e.Outcome = store.OutcomeGranted
		require.NoError(t, in.Auditor.Record(ctx, *e))
	}
	acme := []string{"acme", "acme-eu"}
	globex := []string{"globex", "globex-uk"}
	tests := []struct {
		name string
		q    store.AuditQuery
		want []string
	}{
		{name: "no scope is the whole log", q: store.AuditQuery{},
			want: []string{"acme", "acme-eu", "acme-eu-by-eve", "globex", "globex-uk", "alice-refused", "alice-in-globex", "gina-refused", "refused", "look-alike", "upper-case"}},
		{name: "acme subtree", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme}},
			want: []string{"acme", "acme-eu", "acme-eu-by-eve"}},
		{name: "acme subtree and its admin alice", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme, User: "alice"}},
			want: []string{"acme", "acme-eu", "acme-eu-by-eve", "alice-refused", "alice-in-globex"}},
		{name: "acme-eu subtree and its admin eve: not the parent", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"acme-eu"}, User: "eve"}},
			want: []string{"acme-eu", "acme-eu-by-eve"}},
		{name: "globex subtree and its admin gina", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: globex, User: "gina"}},
			want: []string{"globex", "globex-uk", "alice-in-globex", "gina-refused"}},
		{name: "only the user bob", q: store.AuditQuery{Scope: &store.AuditScope{User: "bob"}},
			want: []string{"acme-eu", "acme-eu-by-eve", "gina-refused"}},
		{name: "zero scope selects nothing", q: store.AuditQuery{Scope: &store.AuditScope{}}},
		{name: "empty orgs select nothing", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{}}}},
		{name: "an empty org selects no event without organisation", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{""}}}},
		{name: "an unknown org selects nothing", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: []string{"initech"}, User: "nobody"}}},
		{name: "acme subtree, first two", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme, User: "alice"}, Limit: 2},
			want: []string{"acme", "acme-eu"}},
		{name: "acme subtree and alice, from the fourth minute", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme, User: "alice"}, From: base.Add(3 * time.Minute)},
			want: []string{"alice-refused", "alice-in-globex"}},
		{name: "acme subtree asking for a globex user", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme}, User: "dave"}},
		{name: "acme subtree asking for a globex subject", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme}, Subject: "gus"}},
		{name: "acme subtree and alice asking for gina", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme, User: "alice"}, Impersonator: "gina"}},
		{name: "acme subtree asking for subject bob", q: store.AuditQuery{Scope: &store.AuditScope{Orgs: acme}, Subject: "bob"},
			want: []string{"acme-eu", "acme-eu-by-eve"}},
	}
	for _, tc := range tests {
		got, err := in.AuditLog.QueryEvents(ctx, tc.q)
		require.NoError(t, err, tc.name)
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, e.JTI)
			if s := tc.q.Scope; s != nil && s.User == "" {
				assert.Contains(t, s.Orgs, e.Org, "%s: event %s is of another organisation", tc.name, e.JTI)
			}
		}
		assert.Equal(t, tc.want, gotIDs, tc.name)
		var matched []string
		for _, e := range events {
			if tc.q.Matches(e) && (tc.q.Limit <= 0 || len(matched) < tc.q.Limit) {
				matched = append(matched, e.JTI)
			}
		}
		assert.Equal(t, tc.want, matched, "%s: AuditQuery.Matches agrees", tc.name)
	}
}
