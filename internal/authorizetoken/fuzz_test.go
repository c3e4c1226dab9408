package authorizetoken_test

import (
	"context"
	"testing"

	"github.com/actas/actas/internal/authorizetoken"
)

// FuzzVerify: subject and actor token verification never panic and accept
// only tokens the issuer minted.
func FuzzVerify(f *testing.F) {
	iss, _, _ := newTestIssuer(f)
	ctx := context.Background()
	st, c, err := iss.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice"})
	if err != nil {
		f.Fatal(err)
	}
	id, idc, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", Nonce: "n"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{st, id, st + "x", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if got, err := iss.Verify(ctx, token, "app"); err == nil && got.ID != c.ID {
			t.Fatalf("accepted a subject token that was never minted: %q", token)
		}
		if got, err := iss.VerifyIDToken(ctx, token, "app"); err == nil && got.ID != idc.ID {
			t.Fatalf("accepted an ID token that was never minted: %q", token)
		}
	})
}
