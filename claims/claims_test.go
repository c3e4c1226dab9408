package claims_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/actas/actas/claims"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		strict  claims.Scope
		lenient claims.Scope
	}{
		{name: "empty", in: "", strict: nil, lenient: nil},
		{name: "spaces", in: "openid  profile ", strict: claims.Scope{"openid", "profile"}, lenient: claims.Scope{"openid", "profile"}},
		{name: "duplicates dropped", in: "a b a", strict: claims.Scope{"a", "b"}, lenient: claims.Scope{"a", "b"}},
		{
			name:    "commas as in the reference document",
			in:      "internal_user_impersonate,openid,internal_org_user_mgt_view",
			strict:  claims.Scope{"internal_user_impersonate,openid,internal_org_user_mgt_view"},
			lenient: claims.Scope{"internal_user_impersonate", "openid", "internal_org_user_mgt_view"},
		},
		{name: "mixed separators", in: "a, b ,c", strict: claims.Scope{"a,", "b", ",c"}, lenient: claims.Scope{"a", "b", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.strict, claims.ParseScope(tc.in))
			assert.Equal(t, tc.lenient, claims.ParseScopeLenient(tc.in))
		})
	}
}

func TestScopeSetOperations(t *testing.T) {
	t.Parallel()
	s := claims.Scope{"openid", "orders:read", "orders:write"}
	assert.True(t, s.Contains("orders:read"))
	assert.False(t, s.Contains("orders"))
	assert.True(t, claims.Scope{"openid"}.SubsetOf(s))
	assert.True(t, claims.Scope(nil).SubsetOf(s))
	assert.False(t, claims.Scope{"admin"}.SubsetOf(s))
	assert.Equal(t, claims.Scope{"openid", "orders:write"}, s.Without("orders:read"))
	assert.Equal(t, claims.Scope{"orders:read"}, s.Intersect([]string{"orders:read", "admin"}))
	assert.Equal(t, "openid orders:read orders:write", s.String())
}

func TestScopeJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(claims.Scope{"a", "b"})
	require.NoError(t, err)
	assert.JSONEq(t, `"a b"`, string(b))

	var s claims.Scope
	require.NoError(t, json.Unmarshal([]byte(`"x  y"`), &s))
	assert.Equal(t, claims.Scope{"x", "y"}, s)
	assert.Error(t, json.Unmarshal([]byte(`["x","y"]`), &s), "an array scope is not one we issue")
	assert.Error(t, json.Unmarshal([]byte(`42`), &s))
}

func TestAudienceJSON(t *testing.T) {
	t.Parallel()
	one, err := json.Marshal(claims.Audience{"app"})
	require.NoError(t, err)
	assert.JSONEq(t, `"app"`, string(one), "a single audience is a string, as in the reference document")
	many, err := json.Marshal(claims.Audience{"app", "api"})
	require.NoError(t, err)
	assert.JSONEq(t, `["app","api"]`, string(many))

	tests := []struct {
		name    string
		in      string
		want    claims.Audience
		wantErr bool
	}{
		{name: "string", in: `"app"`, want: claims.Audience{"app"}},
		{name: "array", in: `["app","api"]`, want: claims.Audience{"app", "api"}},
		{name: "number", in: `1`, wantErr: true},
		{name: "array of numbers", in: `[1]`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a claims.Audience
			err := json.Unmarshal([]byte(tc.in), &a)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, a)
		})
	}
}

func TestActorChain(t *testing.T) {
	t.Parallel()
	var none *claims.Actor
	assert.Equal(t, 0, none.Depth())
	assert.NoError(t, none.Validate(1))

	a := &claims.Actor{Subject: "alice", Act: &claims.Actor{Subject: "root"}}
	assert.Equal(t, 2, a.Depth())
	assert.Equal(t, []string{"alice", "root"}, a.Chain())
	assert.NoError(t, a.Validate(2))
	assert.ErrorIs(t, a.Validate(1), claims.ErrActTooDeep)
	assert.Error(t, (&claims.Actor{Subject: "a", Act: &claims.Actor{}}).Validate(5), "an actor without sub")

	var decoded claims.Actor
	require.NoError(t, json.Unmarshal([]byte(`{"sub":"alice","act":{"sub":"root","iss":"https://idp"}}`), &decoded))
	assert.Equal(t, "https://idp", decoded.Act.Issuer)
}

func TestNumericDate(t *testing.T) {
	t.Parallel()
	var d claims.NumericDate
	require.NoError(t, json.Unmarshal([]byte(`1718694997`), &d))
	assert.Equal(t, claims.NumericDate(1718694997), d)
	require.NoError(t, json.Unmarshal([]byte(`1718694997.9`), &d))
	assert.Equal(t, claims.NumericDate(1718694997), d, "fractions are truncated")
	assert.Error(t, json.Unmarshal([]byte(`"1718694997"`), &d))
	assert.Error(t, json.Unmarshal([]byte(`1e400`), &d))
	assert.True(t, claims.NumericDate(0).Time().IsZero())
	assert.Equal(t, time.Unix(1718694997, 0).UTC(), claims.NumericDate(1718694997).Time())
}

func TestRegisteredValidate(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	valid := func() claims.Registered {
		return claims.Registered{
			Issuer: "https://idp", Subject: "bob", Audience: claims.Audience{"app"},
			Expiry: claims.NewNumericDate(now.Add(time.Minute)), NotBefore: claims.NewNumericDate(now),
			IssuedAt: claims.NewNumericDate(now), ID: "jti-1",
		}
	}
	expect := claims.Expectations{Issuer: "https://idp", Audience: "app", Now: now, Skew: 30 * time.Second, RequireID: true}
	tests := []struct {
		name   string
		mutate func(*claims.Registered)
		now    time.Time
		want   error
	}{
		{name: "valid", mutate: func(*claims.Registered) {}},
		{name: "missing sub", mutate: func(r *claims.Registered) { r.Subject = "" }, want: claims.ErrMissingClaim},
		{name: "missing exp", mutate: func(r *claims.Registered) { r.Expiry = 0 }, want: claims.ErrMissingClaim},
		{name: "missing jti", mutate: func(r *claims.Registered) { r.ID = "" }, want: claims.ErrMissingClaim},
		{name: "wrong iss", mutate: func(r *claims.Registered) { r.Issuer = "https://evil" }, want: claims.ErrIssuer},
		{name: "iss differs only by trailing slash", mutate: func(r *claims.Registered) { r.Issuer = "https://idp/" }, want: claims.ErrIssuer},
		{name: "aud of another client", mutate: func(r *claims.Registered) { r.Audience = claims.Audience{"other"} }, want: claims.ErrAudience},
		{name: "expired within skew", now: now.Add(time.Minute + 29*time.Second)},
		{name: "expired beyond skew", now: now.Add(time.Minute + 30*time.Second), want: claims.ErrExpired},
		{name: "nbf in the future beyond skew", mutate: func(r *claims.Registered) { r.NotBefore = claims.NewNumericDate(now.Add(31 * time.Second)) }, want: claims.ErrNotYetValid},
		{name: "nbf in the future within skew", mutate: func(r *claims.Registered) { r.NotBefore = claims.NewNumericDate(now.Add(30 * time.Second)) }},
		{name: "iat far in the future", mutate: func(r *claims.Registered) { r.IssuedAt = claims.NewNumericDate(now.Add(time.Hour)) }, want: claims.ErrIssuedInFuture},
		{name: "iat in the future within skew", mutate: func(r *claims.Registered) { r.IssuedAt = claims.NewNumericDate(now.Add(30 * time.Second)) }},
		{name: "iat absent", mutate: func(r *claims.Registered) { r.IssuedAt = 0 }},
		// iat sanity (issue 11, F5).
		{name: "iat negative", mutate: func(r *claims.Registered) { r.IssuedAt = -1 }, want: claims.ErrIssuedAt},
		{name: "iat most negative", mutate: func(r *claims.Registered) { r.IssuedAt = math.MinInt64 }, want: claims.ErrIssuedAt},
		{name: "iat after exp, exp passed within skew", mutate: func(r *claims.Registered) {
			r.Expiry = claims.NewNumericDate(now.Add(-10 * time.Second))
			r.IssuedAt = r.Expiry + 1
		}, want: claims.ErrIssuedAt},
		{name: "iat after exp within skew of now", mutate: func(r *claims.Registered) {
			r.Expiry = claims.NewNumericDate(now.Add(10 * time.Second))
			r.IssuedAt = claims.NewNumericDate(now.Add(20 * time.Second))
		}, want: claims.ErrIssuedAt},
		{name: "iat equal to exp", mutate: func(r *claims.Registered) {
			r.Expiry = claims.NewNumericDate(now.Add(10 * time.Second))
			r.IssuedAt = r.Expiry
		}},
		{name: "iat absurdly old", mutate: func(r *claims.Registered) { r.IssuedAt = 1 }, want: claims.ErrIssuedAt},
		{name: "iat beyond MaxTokenAge and skew", mutate: func(r *claims.Registered) {
			r.IssuedAt = claims.NewNumericDate(now.Add(-claims.MaxTokenAge - 31*time.Second))
		}, want: claims.ErrIssuedAt},
		{name: "iat at MaxTokenAge and skew", mutate: func(r *claims.Registered) {
			r.IssuedAt = claims.NewNumericDate(now.Add(-claims.MaxTokenAge - 30*time.Second))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			if tc.mutate != nil {
				tc.mutate(&r)
			}
			e := expect
			if !tc.now.IsZero() {
				e.Now = tc.now
			}
			err := r.Validate(e)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// TestIssuedAtErrorsAreDistinct: an iat in the future keeps its own
// sentinel, and the new iat checks do not match it.
func TestIssuedAtErrorsAreDistinct(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	e := claims.Expectations{Issuer: "https://idp", Now: now, Skew: 30 * time.Second}
	r := claims.Registered{Issuer: "https://idp", Subject: "bob", Expiry: claims.NewNumericDate(now.Add(2 * time.Hour))}

	r.IssuedAt = claims.NewNumericDate(now.Add(time.Hour))
	err := r.Validate(e)
	require.ErrorIs(t, err, claims.ErrIssuedInFuture)
	assert.NotErrorIs(t, err, claims.ErrIssuedAt)

	r.IssuedAt = -1
	err = r.Validate(e)
	require.ErrorIs(t, err, claims.ErrIssuedAt)
	assert.NotErrorIs(t, err, claims.ErrIssuedInFuture)
}
