package claims_test

import (
	"encoding/json"
	"strings"
	"testing"

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
