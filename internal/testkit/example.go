package testkit

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// ExampleIssuer is the issuer of the examples' world.
const ExampleIssuer = "https://id.example"

// Example is the embedded world of the godoc examples, on a fixed clock:
// organisation acme with child acme-eu, admin alice (acme) holding the
// impersonation role for client app, user bob (acme-eu) holding
// orders:read; audit and revocation in the memory store.
type Example struct {
	Svc  *impersonation.Service
	DB   *memory.Store
	Keys *memory.KeySet
	Now  func() time.Time
}

// NewExample builds the world of the examples.
func NewExample() (*Example, error) {
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
			Scopes:     []string{"openid", subjecttoken.ScopeImpersonate, "orders:read"},
			GrantTypes: []string{tokenexchange.GrantType}, Impersonation: true,
		}),
		db.PutRole(memory.Role{Name: "impersonator", ClientID: "app", Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}}),
		db.PutRole(memory.Role{Name: "customer", ClientID: "app", Scopes: []string{"orders:read"}, Users: []string{"bob"}}),
	); err != nil {
		return nil, err
	}
	keys, err := memory.GenerateKeySet(store.ES256, memory.WithClock(now))
	if err != nil {
		return nil, err
	}
	svc, err := impersonation.New(ExampleIssuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithClock(now), impersonation.WithAuditor(db), impersonation.WithRevocationStore(db))
	if err != nil {
		return nil, err
	}
	return &Example{Svc: svc, DB: db, Keys: keys, Now: now}, nil
}

// Authorize runs the authorize step for impersonator asking for subject.
func (e *Example) Authorize(ctx context.Context, impersonator, subject string) (*subjecttoken.AuthorizeResponse, error) {
	req, _, err := subjecttoken.ParseAuthorizeValues(ctx, url.Values{
		"client_id":         {"app"},
		"redirect_uri":      {"https://app.example/cb"},
		"state":             {"xyz"},
		"scope":             {"internal_user_impersonate openid orders:read"},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {"n-0S6_WzA2Mj"},
	}, e.DB)
	if err != nil {
		return nil, err
	}
	return e.Svc.Authorize(ctx, req, impersonation.Login{UserID: impersonator, AuthTime: e.Now()})
}

// AccessToken runs the whole flow, alice acting as bob.
func (e *Example) AccessToken(ctx context.Context) (string, *subjecttoken.AuthorizeResponse, error) {
	ar, err := e.Authorize(ctx, "alice", "bob")
	if err != nil {
		return "", nil, err
	}
	resp, err := e.Svc.Exchange(ctx, tokenexchange.Client{ID: "app"}, &tokenexchange.Request{
		SubjectToken: ar.SubjectToken, SubjectTokenType: tokenexchange.TokenTypeJWT,
		ActorToken: ar.IDToken, ActorTokenType: tokenexchange.TokenTypeIDToken,
	})
	if err != nil {
		return "", nil, err
	}
	return resp.AccessToken, ar, nil
}
