package authorizetoken_test

import (
	"context"
	"fmt"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// ExampleIssuer_Mint mints a subject token for bob that alice may act on,
// and verifies it as the token endpoint does for the client it was minted
// for, and for another client.
func ExampleIssuer_Mint() {
	ctx := context.Background()
	keys, err := memory.GenerateKeySet(store.ES256)
	if err != nil {
		panic(err)
	}
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	iss, err := authorizetoken.NewIssuer("https://idp.example", keys, authorizetoken.WithClock(now))
	if err != nil {
		panic(err)
	}
	token, _, err := iss.Mint(ctx, authorizetoken.Params{
		Subject: "bob", ClientID: "app", Actor: "alice", Scope: claims.Scope{"openid", "orders:read"},
	})
	if err != nil {
		panic(err)
	}

	c, err := iss.Verify(ctx, token, "app")
	if err != nil {
		panic(err)
	}
	fmt.Println("sub:", c.Subject, "may_act.sub:", c.MayAct.Subject, "scope:", c.Scope)
	fmt.Println("expires:", c.Expiry.Time().Format(time.RFC3339))

	_, err = iss.Verify(ctx, token, "other-app")
	fmt.Println("for other-app:", err)
	// Output:
	// sub: bob may_act.sub: alice scope: openid orders:read
	// expires: 2026-01-02T03:07:05Z
	// for other-app: subjecttoken: claims: aud does not contain the expected audience
}
