// Command walkthrough runs the whole impersonation flow on embedded
// defaults and prints it step by step: organisation acme with child
// organisation acme-eu, admin alice (who holds the impersonation role for
// the app) and user bob in acme-eu. Alice gets a subject token for bob from
// the authorize endpoint, exchanges it with her ID token for an access token
// (sub = bob, act.sub = alice), calls a protected API with it; then a replay
// of the subject token and bob trying to impersonate alice are refused.
// It exits 0 only if every step behaved as expected.
//
//	go run ./examples/walkthrough
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

const (
	clientID     = "acme-support-app"
	clientSecret = "walkthrough-secret-not-for-production"
	redirectURI  = "https://app.acme.example/callback"
	// userHeader stands in for the host's own login: the walkthrough's
	// authorize endpoint takes the signed-in user from it.
	userHeader = "X-Walkthrough-User"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough FAILED:", err)
		os.Exit(1)
	}
}

// printer numbers the steps.
type printer struct {
	w    io.Writer
	step int
}

func (p *printer) section(title string) {
	p.step++
	fmt.Fprintf(p.w, "\n== %d. %s\n", p.step, title)
}

func (p *printer) line(format string, args ...any) { fmt.Fprintf(p.w, format+"\n", args...) }

func run(ctx context.Context, out io.Writer) error {
	p := &printer{w: out}
	db := memory.New()
	if err := seed(db); err != nil {
		return err
	}
	keys, err := memory.GenerateKeySet(store.ES256)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer := srv.URL

	svc, err := impersonation.New(issuer, impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithAuditor(db), impersonation.WithNotifier(printNotifier{p}))
	if err != nil {
		return err
	}
	endpoints, err := svc.Handlers(ctx, headerLogin{})
	if err != nil {
		return err
	}
	if err := endpoints.Mount(mux); err != nil {
		return err
	}
	verifier, err := resource.NewVerifier(issuer, clientID, keys)
	if err != nil {
		return err
	}
	mux.Handle("GET /api/whoami", resource.Middleware(verifier)(whoami(db)))

	hc := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	p.section("Embedded defaults")
	p.line("issuer: %s", issuer)
	p.line("organisations: acme, acme-eu (child of acme)")
	p.line("users: alice (acme, holds the impersonation role for %s), bob (acme-eu)", clientID)
	p.line("client: %s, redirect_uri %s", clientID, redirectURI)

	p.section("Authorize request (alice asks to impersonate bob)")
	authURL := authorizeURL(issuer, "bob", "state-4711", "nonce-0815")
	p.line("GET %s", authURL)
	frag, err := authorize(ctx, hc, authURL, "alice")
	if err != nil {
		return err
	}
	subjectToken, idToken := frag.Get("subject_token"), frag.Get("id_token")
	if subjectToken == "" || idToken == "" || frag.Get("state") != "state-4711" {
		return fmt.Errorf("authorize: expected subject_token, id_token and state in the redirect, got %v", keysOf(frag))
	}
	p.line("302 to %s#subject_token=...&id_token=...&state=%s", redirectURI, frag.Get("state"))

	p.section("Decoded subject token")
	st, err := decode(subjectToken)
	if err != nil {
		return err
	}
	p.line("%s", st)
	if !strings.Contains(st, `"sub": "bob"`) || !strings.Contains(st, `"may_act": {`) {
		return errors.New("subject token: expected sub bob and may_act")
	}

	p.section("Token exchange request")
	req := &tokenexchange.Request{
		GrantType:          tokenexchange.GrantType,
		SubjectToken:       subjectToken,
		SubjectTokenType:   tokenexchange.TokenTypeJWT,
		ActorToken:         idToken,
		ActorTokenType:     tokenexchange.TokenTypeIDToken,
		RequestedTokenType: tokenexchange.TokenTypeAccessToken,
	}
	p.line("POST %s/oauth2/token", issuer)
	p.line("Authorization: Basic <%s:secret>", clientID)
	for _, k := range []string{"grant_type", "subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type"} {
		v := req.Values().Get(k)
		if strings.HasSuffix(k, "_token") {
			v = v[:16] + "..."
		}
		p.line("  %s=%s", k, v)
	}
	resp, err := tokenexchange.Exchange(ctx, hc, issuer+"/oauth2/token", clientID, clientSecret, req)
	if err != nil {
		return fmt.Errorf("token exchange: %w", err)
	}
	p.line("200 issued_token_type=%s token_type=%s expires_in=%d scope=%q",
		resp.IssuedTokenType, resp.TokenType, resp.ExpiresIn, resp.Scope.String())

	p.section("Decoded access token")
	at, err := decode(resp.AccessToken)
	if err != nil {
		return err
	}
	p.line("%s", at)
	if !strings.Contains(at, `"sub": "bob"`) || !strings.Contains(at, `"act": {`+"\n"+`    "sub": "alice"`) {
		return errors.New("access token: expected sub bob and act.sub alice")
	}

	p.section("Protected API call with the access token")
	body, status, err := callAPI(ctx, hc, issuer+"/api/whoami", resp.AccessToken)
	if err != nil {
		return err
	}
	p.line("GET /api/whoami -> %d %s", status, body)
	if status != http.StatusOK || body != "bob (acted on by alice)" {
		return fmt.Errorf("api: expected 200 %q", "bob (acted on by alice)")
	}

	p.section("Replay of the same subject token (must be refused)")
	_, err = tokenexchange.Exchange(ctx, hc, issuer+"/oauth2/token", clientID, clientSecret, req)
	var rerr *tokenexchange.RetrieveError
	if !errors.As(err, &rerr) || rerr.ErrorCode != tokenexchange.ErrInvalidRequest.Code {
		return fmt.Errorf("replay: expected invalid_request, got %v", err)
	}
	p.line("refused: %d %s (%s)", rerr.StatusCode, rerr.ErrorCode, rerr.ErrorDescription)

	p.section("Bob tries to impersonate alice (must be refused)")
	denyURL := authorizeURL(issuer, "alice", "state-666", "nonce-666")
	p.line("GET %s  (signed in as bob)", denyURL)
	frag, err = authorize(ctx, hc, denyURL, "bob")
	if err != nil {
		return err
	}
	if frag.Get("error") != subjecttoken.ErrAccessDenied.Code || frag.Get("subject_token") != "" {
		return fmt.Errorf("denied attempt: expected error=access_denied and no token, got %v", keysOf(frag))
	}
	p.line("302 to %s#error=%s&error_description=%q&state=%s", redirectURI,
		frag.Get("error"), frag.Get("error_description"), frag.Get("state"))

	p.section("Audit events")
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // each event carries its own time as "at"
			}
			return a
		},
	}))
	sink := store.NewSlogAuditor(logger)
	events := db.Events()
	for _, e := range events {
		if err := sink.Record(ctx, e); err != nil {
			return err
		}
	}
	want := []store.EventType{store.EventImpersonationStarted, store.EventTokenExchanged, store.EventReplayDetected, store.EventImpersonationDenied}
	if len(events) != len(want) {
		return fmt.Errorf("audit: expected %d events, got %d", len(want), len(events))
	}
	for i, e := range events {
		if e.Type != want[i] {
			return fmt.Errorf("audit: event %d is %s, expected %s", i+1, e.Type, want[i])
		}
	}
	p.line("\nwalkthrough OK: every step behaved as expected")
	return nil
}

func seed(db *memory.Store) error {
	hash, err := store.HashSecret(clientSecret, store.ClientSecretIterations)
	if err != nil {
		return err
	}
	steps := []error{
		db.PutOrganization(store.Organization{ID: "acme", Name: "acme"}),
		db.PutOrganization(store.Organization{ID: "acme-eu", Name: "acme-eu", Parent: "acme"}),
		db.PutUser(store.User{ID: "alice", Username: "alice", Name: "Alice Admin", Email: "alice@acme.example", Org: "acme"}),
		db.PutUser(store.User{ID: "bob", Username: "bob", Name: "Bob User", Email: "bob@acme.example", Org: "acme-eu"}),
		db.PutClient(store.Client{
			ID: clientID, Name: "ACME support app", SecretHash: hash,
			RedirectURIs:  []string{redirectURI},
			Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, "orders:read", "orders:write"},
			GrantTypes:    []string{tokenexchange.GrantType},
			Impersonation: true,
		}),
		db.PutRole(memory.Role{Name: "impersonator", ClientID: clientID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}}),
		db.PutRole(memory.Role{Name: "customer", ClientID: clientID, Scopes: []string{"orders:read"}, Users: []string{"bob"}}),
	}
	return errors.Join(steps...)
}

func authorizeURL(issuer, subject, state, nonce string) string {
	q := url.Values{
		"client_id":         {clientID},
		"redirect_uri":      {redirectURI},
		"state":             {state},
		"scope":             {"internal_user_impersonate openid orders:read orders:write"},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {subject},
		"nonce":             {nonce},
	}
	return issuer + "/oauth2/authorize?" + q.Encode()
}

// headerLogin is the host's login, here: the user the walkthrough header
// names.
type headerLogin struct{}

func (headerLogin) Authenticate(w http.ResponseWriter, r *http.Request) (impersonation.Login, bool) {
	user := r.Header.Get(userHeader)
	if user == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return impersonation.Login{}, false
	}
	return impersonation.Login{UserID: user, AuthTime: time.Now()}, true
}

// authorize performs the authorize request as user and returns the
// parameters of the redirect's fragment.
func authorize(ctx context.Context, hc *http.Client, u, user string) (url.Values, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(userHeader, user)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authorize: expected 302, got %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(loc.String(), redirectURI+"#") {
		return nil, errors.New("authorize: redirect is not to the registered redirect_uri with a fragment")
	}
	return url.ParseQuery(loc.Fragment)
}

// whoami is the protected API: it names the subject and, under
// impersonation, who is acting.
func whoami(users store.Users) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, _ := resource.PrincipalFrom(r.Context())
		name := func(id string) string {
			if u, err := users.User(r.Context(), id); err == nil {
				return u.Username
			}
			return id
		}
		answer := name(pr.Subject)
		if pr.Impersonated() {
			answer += " (acted on by " + name(pr.Actor.Subject) + ")"
		}
		_, _ = io.WriteString(w, answer)
	})
}

func callAPI(ctx context.Context, hc *http.Client, u, token string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return string(b), resp.StatusCode, err
}

// decode returns the JWT's header and payload, indented. It does not
// verify: the server did.
func decode(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	var buf bytes.Buffer
	for i, name := range []string{"header", "payload"} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return "", err
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			return "", err
		}
		fmt.Fprintf(&buf, "%s: %s\n", name, pretty.String())
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func keysOf(v url.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	return out
}

// printNotifier prints the notice the impersonated user would receive.
type printNotifier struct{ p *printer }

func (n printNotifier) Notify(_ context.Context, no store.Notice) error {
	n.p.line("notice to %s <%s>: %s accessed your account at %s (client %s)",
		no.UserName, no.Email, no.ImpersonatorName, no.Time.Format(time.RFC3339), no.ClientID)
	return nil
}
