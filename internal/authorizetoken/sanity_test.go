package authorizetoken_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
)

// Issue 11, F4 and F5: tokens signed with the issuer's own key that the
// issuer never mints.

// sanityIssuer is an issuer on a fixed clock, its time, and a signer of
// exactly the header given (":KID" standing for the issuer's kid; empty:
// the issuer's own subject token header) over claims c, with its key.
func sanityIssuer(t *testing.T) (*authorizetoken.Issuer, time.Time, func(header string, c any) string) {
	t.Helper()
	iss, clk, ks := newTestIssuer(t)
	key, err := ks.SigningKey(context.Background())
	require.NoError(t, err)
	kid, err := json.Marshal(key.ID)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	return iss, clk.Now(), func(header string, c any) string {
		if header == "" {
			header = `{"alg":"ES256","kid":KID,"typ":"subject+jwt"}`
		}
		header = strings.ReplaceAll(header, ":KID", ":"+string(kid))
		payload, err := json.Marshal(c)
		require.NoError(t, err)
		s, err := jws.NewSigner(jwa.SignatureAlgorithm(key.Algorithm))
		require.NoError(t, err)
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload)
		sig, err := s.Sign([]byte(input), key.Key)
		require.NoError(t, err)
		return input + "." + enc.EncodeToString(sig)
	}
}

// subjectClaimsAt are valid subject token claims for app at now, as a map
// a case changes.
func subjectClaimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "bob", "aud": "app", "azp": "app", "client_id": "app",
		"scope": "openid", "may_act": map[string]any{"sub": "alice"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(3 * time.Minute).Unix(), "jti": "j1",
	}
}

// idClaimsAt are valid ID token claims of alice for app at now.
func idClaimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": "app", "azp": "app",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "j2",
	}
}

// changedClaims returns a copy of m with change applied.
func changedClaims(m map[string]any, change func(map[string]any)) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	change(out)
	return out
}

// iatCases are iat values no issuer of the library writes, as changes of
// claims valid at now.
func iatCases(now time.Time) []struct {
	name   string
	change func(map[string]any)
} {
	return []struct {
		name   string
		change func(map[string]any)
	}{
		{name: "iat -1", change: func(m map[string]any) { m["iat"] = -1 }},
		{name: "iat in 2001", change: func(m map[string]any) { m["iat"] = 1_000_000_000 }},
		{name: "iat beyond MaxTokenAge", change: func(m map[string]any) { m["iat"] = now.Add(-claims.MaxTokenAge - time.Minute).Unix() }},
		{name: "iat after exp", change: func(m map[string]any) {
			m["exp"], m["iat"] = now.Add(10*time.Second).Unix(), now.Add(20*time.Second).Unix()
		}},
	}
}

func TestVerifySubjectToken_IssuedAtOutOfRange(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	for _, tc := range iatCases(now) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := iss.Verify(context.Background(), sign("", changedClaims(subjectClaimsAt(now), tc.change)), "app")
			require.ErrorIs(t, err, authorizetoken.ErrIssuedAt)
			assert.ErrorIs(t, err, claims.ErrIssuedAt)
			assert.Nil(t, c)
		})
	}
}

func TestVerifyIDToken_IssuedAtOutOfRange(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	header := `{"alg":"ES256","kid":KID,"typ":"JWT"}`
	for _, tc := range iatCases(now) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := iss.VerifyIDToken(context.Background(), sign(header, changedClaims(idClaimsAt(now), tc.change)), "app")
			require.ErrorIs(t, err, authorizetoken.ErrIssuedAt)
			assert.Nil(t, c)
		})
	}
}

// TestVerifySubjectToken_AudienceIsExactlyTheClient: a subject token is
// for the client alone (issue 11, F5 b).
func TestVerifySubjectToken_AudienceIsExactlyTheClient(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	tests := []struct {
		name string
		aud  any
		want error
	}{
		{name: "a string", aud: "app"},
		{name: "a one-element array", aud: []string{"app"}},
		{name: "the client and another", aud: []string{"app", "app2"}, want: authorizetoken.ErrAudienceNotExact},
		{name: "another and the client", aud: []string{"https://api.example", "app"}, want: authorizetoken.ErrAudienceNotExact},
		{name: "the client twice", aud: []string{"app", "app"}, want: authorizetoken.ErrAudienceNotExact},
		{name: "another client only", aud: []string{"app2"}, want: authorizetoken.ErrAudience},
		{name: "an empty array", aud: []string{}, want: authorizetoken.ErrAudience},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := iss.Verify(context.Background(), sign("", changedClaims(subjectClaimsAt(now), func(m map[string]any) { m["aud"] = tc.aud })), "app")
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, claims.Audience{"app"}, c.Audience)
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, c)
		})
	}
}

// TestVerifyIDToken_SeveralAudiences: an ID token keeps the OpenID Connect
// rule (Core §3.1.3.7): aud contains the client, azp when present is the
// client. Only subject tokens must name the client alone.
func TestVerifyIDToken_SeveralAudiences(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	header := `{"alg":"ES256","kid":KID,"typ":"JWT"}`
	several := func(azp string) string {
		return sign(header, changedClaims(idClaimsAt(now), func(m map[string]any) {
			m["aud"] = []string{"app", "https://api.example"}
			if azp == "" {
				delete(m, "azp")
			} else {
				m["azp"] = azp
			}
		}))
	}
	_, err := iss.VerifyIDToken(context.Background(), several("app"), "app")
	require.NoError(t, err, "other audiences beside the client, azp the client")
	_, err = iss.VerifyIDToken(context.Background(), several("https://api.example"), "app")
	require.ErrorIs(t, err, authorizetoken.ErrClientMismatch, "azp another party")
}

// TestVerify_DuplicateHeaderMembers: the issuer's key under a header that
// names a member twice is refused for both token kinds (issue 11, F4).
func TestVerify_DuplicateHeaderMembers(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	tests := []struct {
		name    string
		header  string
		idToken bool
	}{
		{name: "subject token alg none then ES256", header: `{"alg":"none","alg":"ES256","kid":KID,"typ":"subject+jwt"}`},
		{name: "subject token typ JWT then subject+jwt", header: `{"alg":"ES256","kid":KID,"typ":"JWT","typ":"subject+jwt"}`},
		{name: "subject token two kids", header: `{"alg":"ES256","kid":"nope","kid":KID,"typ":"subject+jwt"}`},
		{name: "subject token kid and KID", header: `{"alg":"ES256","KID":"nope","kid":KID,"typ":"subject+jwt"}`},
		{name: "subject token crit twice", header: `{"alg":"ES256","kid":KID,"typ":"subject+jwt","crit":["exp"],"crit":["exp"]}`},
		{name: "subject token other member twice", header: `{"alg":"ES256","kid":KID,"typ":"subject+jwt","cty":"JWT","cty":"JWT"}`},
		{name: "ID token typ subject+jwt then JWT", header: `{"alg":"ES256","kid":KID,"typ":"subject+jwt","typ":"JWT"}`, idToken: true},
		{name: "ID token alg none then ES256", header: `{"alg":"none","alg":"ES256","kid":KID,"typ":"JWT"}`, idToken: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tc.idToken {
				_, err = iss.VerifyIDToken(context.Background(), sign(tc.header, idClaimsAt(now)), "app")
			} else {
				_, err = iss.Verify(context.Background(), sign(tc.header, subjectClaimsAt(now)), "app")
			}
			require.ErrorIs(t, err, authorizetoken.ErrMalformed)
			require.ErrorIs(t, err, jose.ErrDuplicateMember)
		})
	}
	// The control: the issuer's header written by hand verifies.
	_, err := iss.Verify(context.Background(), sign(`{"alg":"ES256","kid":KID,"typ":"subject+jwt"}`, subjectClaimsAt(now)), "app")
	require.NoError(t, err)
}
