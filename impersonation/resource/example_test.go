package resource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
)

func ExampleVerifier_Verify() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	at, ar, err := e.AccessToken(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A resource server whose audience is the client itself.
	v, err := resource.NewVerifier(testkit.ExampleIssuer, "app", e.Keys, resource.WithClock(e.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := v.Verify(ctx, at)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sub:", p.Subject, "act.sub:", p.Actor.Subject, "client:", p.ClientID, "org:", p.OrgID, "scope:", p.Scope)
	fmt.Println("impersonated:", p.Impersonated())

	// A subject token is not an access token.
	_, err = v.Verify(ctx, ar.SubjectToken)
	fmt.Println("subject token as bearer is invalid:", errors.Is(err, resource.ErrInvalidToken))
	// Output:
	// sub: bob act.sub: alice client: app org: acme-eu scope: openid orders:read
	// impersonated: true
	// subject token as bearer is invalid: true
}

func ExampleMiddleware() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	at, _, err := e.AccessToken(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := resource.NewVerifier(testkit.ExampleIssuer, "app", e.Keys, resource.WithClock(e.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	api := resource.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resource.PrincipalFrom(r.Context())
		if p.Impersonated() {
			fmt.Fprintf(w, "%s (acted on by %s)", p.Subject, p.Actor.Subject)
			return
		}
		fmt.Fprint(w, p.Subject)
	}))

	for _, auth := range []string{"Bearer " + at, ""} {
		r := httptest.NewRequest(http.MethodGet, "/api/whoami", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 bob (acted on by alice)
	// 401 Bearer realm="api"
}
