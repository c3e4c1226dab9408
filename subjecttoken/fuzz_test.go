package subjecttoken_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/actas/actas/subjecttoken"
)

// FuzzParseAuthorizeValues: any query parses without panicking; an error
// found before the redirect URI was validated is never redirectable; an
// accepted request names a registered redirect URI exactly and asks for
// the impersonation scope.
func FuzzParseAuthorizeValues(f *testing.F) {
	good := authzValues()
	f.Add(good.Encode())
	for _, mutate := range []func(url.Values){
		func(v url.Values) { v.Set("redirect_uri", v.Get("redirect_uri")+"/") },
		func(v url.Values) { v.Set("response_type", "id_token") },
		func(v url.Values) { v.Add("state", "x") },
		func(v url.Values) { v.Set("scope", "openid") },
		func(v url.Values) { v.Set("response_mode", "query") },
		func(v url.Values) { v.Set("client_id", "nobody") },
	} {
		v := authzValues()
		mutate(v)
		f.Add(v.Encode())
	}
	clients := authzTestClients()
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, client, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, clients)
		if err != nil {
			var e *subjecttoken.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			if e.Redirectable() && (errors.Is(err, subjecttoken.ErrUnknownClient) || errors.Is(err, subjecttoken.ErrRedirectURIMismatch)) {
				t.Fatalf("redirectable error for an unvalidated redirect: %v", err)
			}
			return
		}
		if !slices.Contains(client.RedirectURIs, req.RedirectURI) {
			t.Fatalf("accepted unregistered redirect_uri %q", req.RedirectURI)
		}
		if !req.Scope.Contains(subjecttoken.ScopeImpersonate) || req.RequestedSubject == "" {
			t.Fatalf("accepted without the impersonation scope or a subject: %+v", req)
		}
		if req.IDToken && req.Nonce == "" {
			t.Fatal("accepted id_token without nonce")
		}
	})
}
