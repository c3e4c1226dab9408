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
