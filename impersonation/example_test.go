package impersonation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// example is the embedded world of the examples, on a fixed clock:
// organisation acme with child acme-eu, admin alice (acme) holding the
// impersonation role for client app, user bob (acme-eu) holding
// orders:read.
type example struct {
	svc  *impersonation.Service
	db   *memory.Store
	keys *memory.KeySet
	now  func() time.Time
}

func newExample() (*example, error) {
	now := func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }
	db := memory.New(memory.WithClock(now))
	hash, err := store.HashSecret("example-secret", store.ClientSecretIterations)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(
		db.PutOrganization(store.Organization{ID: "acme", Name: "ACME"}),
		db.PutOrganization(store.Organization{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"}),
		db.PutUser(store.User{ID: "alice", Name: "Alice Admin", Org: "acme"}),
		db.PutUser(store.User{ID: "bob", Name: "Bob Buyer", Org: "acme-eu"}),
		db.PutClient(store.Client{
			ID: "app", SecretHash: hash, RedirectURIs: []string{"https://app.example/cb"},
			GrantTypes: []string{tokenexchange.GrantType}, Impersonation: true,
		}),
		db.PutRole(memory.Role{Name: "impersonator", ClientID: "app", Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}}),
		db.PutRole(memory.Role{Name: "customer", ClientID: "app", Scopes: []string{"orders:read"}, Users: []string{"bob"}}),
	); err != nil {
		return nil, err
	}
	keys, err := memory.GenerateKeySet(store.ES256, memory.WithKeyClock(now))
	if err != nil {
		return nil, err
	}
	svc, err := impersonation.New("https://id.example", impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithClock(now), impersonation.WithAuditor(db))
	if err != nil {
		return nil, err
	}
	return &example{svc: svc, db: db, keys: keys, now: now}, nil
}

// authorize runs the authorize step for impersonator asking for subject.
func (e *example) authorize(ctx context.Context, impersonator, subject string) (*subjecttoken.AuthorizeResponse, error) {
	req, _, err := subjecttoken.ParseAuthorizeValues(ctx, url.Values{
		"client_id":         {"app"},
		"redirect_uri":      {"https://app.example/cb"},
		"state":             {"xyz"},
		"scope":             {"internal_user_impersonate openid orders:read"},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {"n-0S6_WzA2Mj"},
	}, e.db)
	if err != nil {
		return nil, err
	}
	return e.svc.Authorize(ctx, req, impersonation.Login{UserID: impersonator, AuthTime: e.now()})
}

// accessToken runs the whole flow, alice acting as bob.
func (e *example) accessToken(ctx context.Context) (string, *subjecttoken.AuthorizeResponse, error) {
	ar, err := e.authorize(ctx, "alice", "bob")
	if err != nil {
		return "", nil, err
	}
	resp, err := e.svc.Exchange(ctx, tokenexchange.Client{ID: "app"}, &tokenexchange.Request{
		SubjectToken: ar.SubjectToken, SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken: ar.IDToken, ActorTokenType: tokenexchange.TokenTypeIDToken,
	})
	if err != nil {
		return "", nil, err
	}
	return resp.AccessToken, ar, nil
}

func ExampleService_Authorize() {
	ctx := context.Background()
	e, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}

	// alice may impersonate bob: a subject token for bob that alice may act on.
	resp, err := e.authorize(ctx, "alice", "bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := e.svc.Tokens().Verify(ctx, resp.SubjectToken, "app")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sub:", c.Subject, "may_act.sub:", c.MayAct.Subject, "scope:", c.Scope)
	fmt.Println("lifetime:", c.Expiry.Time().Sub(c.IssuedAt.Time()), "id_token:", resp.IDToken != "")

	// bob may not impersonate alice: access_denied, the rule in the audit log.
	_, err = e.authorize(ctx, "bob", "alice")
	var ae *subjecttoken.Error
	if errors.As(err, &ae) {
		fmt.Println("denied:", ae.Code, "redirected:", ae.Redirectable())
	}
	for _, ev := range e.db.Events() {
		line := fmt.Sprintf("audit: %s %s", ev.Type, ev.Outcome)
		if ev.Reason != "" {
			line += " (" + ev.Reason + ")"
		}
		fmt.Println(line)
	}
	// Output:
	// sub: bob may_act.sub: alice scope: openid orders:read
	// lifetime: 3m0s id_token: true
	// denied: access_denied redirected: true
	// audit: impersonation.started granted
	// audit: impersonation.denied denied (impersonator_lacks_role)
}

func ExampleService_Exchange() {
	ctx := context.Background()
	e, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	ar, err := e.authorize(ctx, "alice", "bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &tokenexchange.Request{
		GrantType:        tokenexchange.GrantType,
		SubjectToken:     ar.SubjectToken,
		SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken:       ar.IDToken,
		ActorTokenType:   tokenexchange.TokenTypeIDToken,
	}
	// The token endpoint (tokenexchange.NewHandler(svc, svc)) calls
	// Exchange once it has authenticated the client.
	client := tokenexchange.Client{ID: "app", AuthMethod: tokenexchange.AuthMethodBasic}
	resp, err := e.svc.Exchange(ctx, client, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.IssuedTokenType, resp.TokenType, resp.ExpiresIn, resp.Scope)

	// The subject token is single-use.
	_, err = e.svc.Exchange(ctx, client, req)
	var te *tokenexchange.Error
	if errors.As(err, &te) {
		fmt.Println("replay:", te.Code)
	}
	for _, ev := range e.db.Events() {
		fmt.Println("audit:", ev.Type, ev.Subject, ev.Impersonator)
	}
	// Output:
	// urn:ietf:params:oauth:token-type:access_token Bearer 3600 openid orders:read
	// replay: invalid_request
	// audit: impersonation.started bob alice
	// audit: token.exchanged bob alice
	// audit: token.replay_detected bob alice
}

func ExampleVerifier_Verify() {
	ctx := context.Background()
	e, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	at, ar, err := e.accessToken(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A resource server whose audience is the client itself.
	v, err := resource.NewVerifier("https://id.example", "app", e.keys, resource.WithClock(e.now))
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
	e, err := newExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	at, _, err := e.accessToken(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := resource.NewVerifier("https://id.example", "app", e.keys, resource.WithClock(e.now))
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
