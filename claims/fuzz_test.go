package claims_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/claims"
)

// FuzzParseScope: never panics; tokens are non-empty, unique and free of
// separators; parsing the string form again gives the same scope.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid", "a b  c", "a,b, c", "internal_user_impersonate,openid", "a a", "\t\n", " , "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) claims.Scope{claims.ParseScope, claims.ParseScopeLenient} {
			sc := parse(s)
			seen := map[string]bool{}
			for _, tok := range sc {
				if tok == "" || strings.ContainsRune(tok, ' ') || seen[tok] {
					t.Fatalf("bad token %q in %q", tok, sc)
				}
				seen[tok] = true
			}
			again := claims.ParseScope(sc.String())
			if len(sc) > 0 && sc.String() != again.String() {
				t.Fatalf("not idempotent: %q -> %q", sc, again)
			}
		}
	})
}

// FuzzActor: decoding any act claim never panics; depth and validation
// are defined; a decoded chain encodes and decodes to the same chain.
func FuzzActor(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice"}`, `{"sub":"alice","act":{"sub":"root","iss":"https://idp"}}`,
		`{"sub":"a","act":{"sub":"b","act":{"sub":"c","act":{"sub":"d","act":{"sub":"e","act":{"sub":"f"}}}}}}`,
		`{"act":null}`, `{"sub":1}`, `"alice"`, `[]`, `{"sub":"a","act":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a claims.Actor
		if json.Unmarshal(data, &a) != nil {
			return
		}
		_ = a.Validate(claims.DefaultMaxActDepth)
		if a.Depth() != len(a.Chain()) {
			t.Fatalf("depth %d, chain %d", a.Depth(), len(a.Chain()))
		}
		enc, err := json.Marshal(&a)
		if err != nil {
			t.Fatal(err)
		}
		var b claims.Actor
		if err := json.Unmarshal(enc, &b); err != nil {
			t.Fatal(err)
		}
		if strings.Join(a.Chain(), "\x00") != strings.Join(b.Chain(), "\x00") {
			t.Fatalf("round trip changed the chain: %q -> %q", a.Chain(), b.Chain())
		}
	})
}

// FuzzRegisteredValidate: whatever exp, nbf and iat say, an accepted token
// has not expired, is valid already, and carries no iat or a plausible
// one: not negative, not after exp, within MaxTokenAge and the skew of now.
func FuzzRegisteredValidate(f *testing.F) {
	const now, skew = int64(1_800_000_000), int64(30)
	f.Add(now+60, int64(0), now)
	f.Add(now+60, now, int64(-1))
	f.Add(now+10, now, now+20)
	f.Add(now+60, int64(0), now-int64(claims.MaxTokenAge/time.Second)-skew-1)
	f.Add(now+60, int64(0), int64(math.MinInt64))
	f.Add(int64(math.MaxInt64), int64(0), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, exp, nbf, iat int64) {
		r := claims.Registered{
			Issuer: "https://idp", Subject: "bob",
			Expiry: claims.NumericDate(exp), NotBefore: claims.NumericDate(nbf), IssuedAt: claims.NumericDate(iat),
		}
		err := r.Validate(claims.Expectations{Issuer: "https://idp", Now: time.Unix(now, 0), Skew: time.Duration(skew) * time.Second})
		if err != nil {
			return
		}
		maxAge := int64(claims.MaxTokenAge / time.Second)
		switch {
		case exp <= now-skew:
			t.Fatalf("accepted exp %d at %d", exp, now)
		case nbf > now+skew:
			t.Fatalf("accepted nbf %d at %d", nbf, now)
		case iat != 0 && (iat < 0 || iat > exp || iat > now+skew || iat < now-skew-maxAge):
			t.Fatalf("accepted iat %d with exp %d at %d", iat, exp, now)
		}
	})
}
