package tokenexchange_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/tokenexchange"
)

// clients is a ClientAuthenticator over a fixed map of client secrets.
type clients map[string]string

func (c clients) AuthenticateClient(_ context.Context, id, secret string) error {
	want, ok := c[id]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

// echoExchanger issues a fixed token for any actor-bearing request. A real
// Exchanger verifies both tokens and applies policy.
type echoExchanger struct{}

func (echoExchanger) Exchange(_ context.Context, client tokenexchange.Client, req *tokenexchange.Request) (*tokenexchange.Response, error) {
	if req.ActorToken == "" {
		return nil, tokenexchange.ErrInvalidRequest.WithDescription("actor_token is required")
	}
	if !req.Scope.SubsetOf(claims.Scope{"openid", "orders:read"}) {
		return nil, tokenexchange.ErrInvalidScope.WithDescription("scope not allowed for " + client.ID)
	}
	return &tokenexchange.Response{
		AccessToken:     "issued-for-" + client.ID,
		IssuedTokenType: tokenexchange.TokenTypeAccessToken,
		TokenType:       tokenexchange.BearerTokenType,
		ExpiresIn:       300,
		Scope:           req.Scope,
	}, nil
}

func ExampleNewHandler() {
	h, err := tokenexchange.NewHandler(clients{"app": "s3cret"}, echoExchanger{},
		tokenexchange.WithErrorObserver(func(r *http.Request, clientID string, err error) {
			fmt.Printf("refused client %q: %v\n", clientID, err)
		}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /token", h)

	post := func(form url.Values) {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("app", "s3cret") // form-encode id and secret first if they hold special characters
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), strings.TrimSpace(rec.Body.String()))
	}
	req := &tokenexchange.Request{
		SubjectToken:     "subject-token",
		SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken:       "actor-id-token",
		ActorTokenType:   tokenexchange.TokenTypeIDToken,
		Scope:            claims.Scope{"openid"},
	}
	post(req.Values())

	req.Scope = claims.Scope{"admin"}
	post(req.Values())
	// Output:
	// 200 no-store {"access_token":"issued-for-app","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":300,"scope":"openid"}
	// refused client "app": tokenexchange: invalid_scope: scope not allowed for app
	// 400 no-store {"error":"invalid_scope","error_description":"scope not allowed for app"}
}

func ExampleExchange() {
	h, err := tokenexchange.NewHandler(clients{"app": "s3cret"}, echoExchanger{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Timeout: 10 * time.Second}

	resp, err := tokenexchange.Exchange(context.Background(), hc, srv.URL, "app", "s3cret", &tokenexchange.Request{
		SubjectToken:     "subject-token",
		SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken:       "actor-id-token",
		ActorTokenType:   tokenexchange.TokenTypeIDToken,
		Scope:            claims.Scope{"openid", "orders:read"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.AccessToken, resp.TokenType, resp.ExpiresIn, resp.Scope)

	_, err = tokenexchange.Exchange(context.Background(), hc, srv.URL, "app", "wrong", &tokenexchange.Request{
		SubjectToken:     "subject-token",
		SubjectTokenType: tokenexchange.TokenTypeJWT,
	})
	var re *tokenexchange.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.ErrorCode, errors.Is(err, tokenexchange.ErrInvalidClient))
	}
	// Output:
	// issued-for-app Bearer 300 openid orders:read
	// 401 invalid_client true
}

// tokenTable is an Introspector and a Revoker over a fixed table of tokens.
// A resource server may introspect a token whose audience it is; a client
// may revoke a token issued to it. A real implementation verifies the token
// and consults its stores.
type tokenTable map[string]*tokenexchange.Introspection

var (
	_ tokenexchange.Introspector = tokenTable(nil)
	_ tokenexchange.Revoker      = tokenTable(nil)
)

func (t tokenTable) Introspect(_ context.Context, client tokenexchange.Client, token, _ string) (*tokenexchange.Introspection, error) {
	in, ok := t[token]
	if !ok || !in.Audience.Contains(client.ID) {
		return &tokenexchange.Introspection{Active: false}, nil // unknown, or not for this caller
	}
	return in, nil
}

func (t tokenTable) Revoke(_ context.Context, client tokenexchange.Client, token, _ string) error {
	in, ok := t[token]
	if !ok {
		return nil // RFC 7009 §2.2: an unknown token is not an error
	}
	if in.ClientID != client.ID {
		return tokenexchange.ErrUnauthorizedClient.WithDescription("the token was issued to another client")
	}
	return nil // a real Revoker records the revocation here
}

// exampleTokens holds one impersonation token: bob's, used by alice.
func exampleTokens() tokenTable {
	return tokenTable{"at-1": {
		Active:    true,
		Scope:     claims.Scope{"openid", "orders:read"},
		ClientID:  "app",
		TokenType: tokenexchange.BearerTokenType,
		Expiry:    1767229200,
		IssuedAt:  1767225600,
		Subject:   "bob",
		Audience:  claims.Audience{"orders-api"},
		Issuer:    "https://as.example.com",
		Act:       &claims.Actor{Subject: "alice"},
	}}
}

func ExampleNewIntrospectionHandler() {
	h, err := tokenexchange.NewIntrospectionHandler(clients{"orders-api": "rs-s3cret"}, exampleTokens())
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /introspect", h)

	introspect := func(secret, token string) {
		form := url.Values{"token": {token}, "token_type_hint": {tokenexchange.TokenTypeHintAccessToken}}
		r := httptest.NewRequest(http.MethodPost, "/introspect", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("orders-api", secret)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), strings.TrimSpace(rec.Body.String()))
	}
	introspect("rs-s3cret", "at-1")
	introspect("rs-s3cret", "unknown")
	introspect("wrong", "at-1")
	// Output:
	// 200 no-store {"active":true,"scope":"openid orders:read","client_id":"app","token_type":"Bearer","exp":1767229200,"iat":1767225600,"sub":"bob","aud":"orders-api","iss":"https://as.example.com","act":{"sub":"alice"}}
	// 200 no-store {"active":false}
	// 401 no-store {"error":"invalid_client","error_description":"client authentication failed"}
}

func ExampleIntrospect() {
	h, err := tokenexchange.NewIntrospectionHandler(clients{"orders-api": "rs-s3cret"}, exampleTokens())
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Timeout: 10 * time.Second}

	in, err := tokenexchange.Introspect(context.Background(), hc, srv.URL, "orders-api", "rs-s3cret", "at-1", tokenexchange.TokenTypeHintAccessToken)
	if err != nil {
		panic(err)
	}
	fmt.Println(in.Active, in.Subject, in.Act.Chain(), in.Scope)

	in, err = tokenexchange.Introspect(context.Background(), hc, srv.URL, "orders-api", "rs-s3cret", "forged", "")
	if err != nil {
		panic(err)
	}
	fmt.Println(in.Active, in.Subject == "")
	// Output:
	// true bob [alice] openid orders:read
	// false true
}

func ExampleNewRevocationHandler() {
	h, err := tokenexchange.NewRevocationHandler(clients{"app": "s3cret", "other": "0ther"}, exampleTokens())
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /revoke", h)

	revoke := func(client, secret, token string) {
		r := httptest.NewRequest(http.MethodPost, "/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(client, secret)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		fmt.Printf("%d %s %q\n", rec.Code, rec.Header().Get("Cache-Control"), strings.TrimSpace(rec.Body.String()))
	}
	revoke("app", "s3cret", "at-1")
	revoke("app", "s3cret", "unknown")
	revoke("other", "0ther", "at-1")
	// Output:
	// 200 no-store ""
	// 200 no-store ""
	// 400 no-store "{\"error\":\"unauthorized_client\",\"error_description\":\"the token was issued to another client\"}"
}

func ExampleRevoke() {
	h, err := tokenexchange.NewRevocationHandler(clients{"app": "s3cret", "other": "0ther"}, exampleTokens())
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Timeout: 10 * time.Second}

	err = tokenexchange.Revoke(context.Background(), hc, srv.URL, "app", "s3cret", "at-1", tokenexchange.TokenTypeHintAccessToken)
	fmt.Println(err)

	err = tokenexchange.Revoke(context.Background(), hc, srv.URL, "other", "0ther", "at-1", "")
	var re *tokenexchange.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.ErrorCode, errors.Is(err, tokenexchange.ErrUnauthorizedClient))
	}
	// Output:
	// <nil>
	// 400 unauthorized_client true
}
