package resource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/actas/actas/impersonation/resource"
)

func ExampleVerifier_Verify() {
	ctx := context.Background()
	// A resource server whose audience is the client itself, and alice's
	// access token as bob.
	x, err := newExampleSetup(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	v := x.verifier
	p, err := v.Verify(ctx, x.accessToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sub:", p.Subject, "act.sub:", p.Actor.Subject, "client:", p.ClientID, "org:", p.OrgID, "scope:", p.Scope)
	fmt.Println("impersonated:", p.Impersonated())

	// A subject token is not an access token.
	_, err = v.Verify(ctx, x.authorized.SubjectToken)
	fmt.Println("subject token as bearer is invalid:", errors.Is(err, resource.ErrInvalidToken))
	// Output:
	// sub: bob act.sub: alice client: app org: acme-eu scope: openid orders:read
	// impersonated: true
	// subject token as bearer is invalid: true
}

func ExampleMiddleware() {
	x, err := newExampleSetup(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	api := resource.Middleware(x.verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resource.PrincipalFrom(r.Context())
		if p.Impersonated() {
			fmt.Fprintf(w, "%s (acted on by %s)", p.Subject, p.Actor.Subject)
			return
		}
		fmt.Fprint(w, p.Subject)
	}))

	for _, auth := range []string{"Bearer " + x.accessToken, ""} {
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
