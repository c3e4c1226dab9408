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
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

func ExampleService_Authorize() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}

	// alice may impersonate bob: a subject token for bob that alice may act on.
	resp, err := e.Authorize(ctx, "alice", "bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	// What the client sees in the subject token (any verifier of the
	// issuer's keys reads it).
	v, err := authorizetoken.NewVerifier(testkit.ExampleIssuer, e.Keys, authorizetoken.WithClock(e.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := v.Verify(ctx, resp.SubjectToken, "app")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sub:", c.Subject, "may_act.sub:", c.MayAct.Subject, "scope:", c.Scope)
	fmt.Println("lifetime:", c.Expiry.Time().Sub(c.IssuedAt.Time()), "id_token:", resp.IDToken != "")

	// bob may not impersonate alice: access_denied, the rule in the audit log.
	_, err = e.Authorize(ctx, "bob", "alice")
	var ae *subjecttoken.Error
	if errors.As(err, &ae) {
		fmt.Println("denied:", ae.Code, "redirected:", ae.Redirectable())
	}
	for _, ev := range e.DB.Events() {
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
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	ar, err := e.Authorize(ctx, "alice", "bob")
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
	resp, err := e.Svc.Exchange(ctx, client, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.IssuedTokenType, resp.TokenType, resp.ExpiresIn, resp.Scope)

	// The subject token is single-use.
	_, err = e.Svc.Exchange(ctx, client, req)
	var te *tokenexchange.Error
	if errors.As(err, &te) {
		fmt.Println("replay:", te.Code)
	}
	for _, ev := range e.DB.Events() {
		fmt.Println("audit:", ev.Type, ev.Subject, ev.Impersonator)
	}
	// Output:
	// urn:ietf:params:oauth:token-type:access_token Bearer 3600 openid orders:read
	// replay: invalid_request
	// audit: impersonation.started bob alice
	// audit: token.exchanged bob alice
	// audit: token.replay_detected bob alice
}

func ExampleHistory() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	// alice impersonates bob: the whole flow.
	if _, _, err := e.AccessToken(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// bob, signed in at the host, reads the impersonations of him back from
	// the audit log (the memory store here) ...
	h, err := impersonation.NewHistory(e.Svc, e.DB)
	if err != nil {
		fmt.Println(err)
		return
	}
	page, err := h.List(ctx, impersonation.HistoryQuery{Subject: "bob"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, imp := range page.Impersonations {
		fmt.Println(imp.Impersonator, "as", imp.Subject, "in", imp.ClientID, "at", imp.Started.Format(time.Kitchen),
			"until", imp.Expires.Format(time.Kitchen), "running:", imp.Running(e.Now()))
	}

	// ... and ends it: its tokens are revoked, the end recorded.
	imp, err := h.End(ctx, "bob", page.Impersonations[0].ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("running:", imp.Running(e.Now()), "ended:", imp.EndReason)
	_, err = h.End(ctx, "bob", imp.ID)
	fmt.Println(errors.Is(err, impersonation.ErrImpersonationOver))
	// Nobody ends someone else's, or learns whether it exists.
	_, err = h.End(ctx, "alice", imp.ID)
	fmt.Println(errors.Is(err, impersonation.ErrNoImpersonation))
	last := e.DB.Events()[len(e.DB.Events())-1]
	fmt.Println("audit:", last.Type, last.Subject, last.Reason)
	// Output:
	// alice as bob in app at 3:04PM until 4:04PM running: true
	// running: false ended: ended by the impersonated user
	// true
	// true
	// audit: impersonation.ended bob ended by the impersonated user
}

// exampleLogin is the host's login of ExampleWithLogout: alice, signed in
// or not.
type exampleLogin struct{ signedIn bool }

func (l *exampleLogin) Authenticate(http.ResponseWriter, *http.Request) (impersonation.Login, bool) {
	return impersonation.Login{UserID: "alice"}, l.signedIn
}

func (l *exampleLogin) SignedIn(*http.Request) (impersonation.Login, bool) {
	return impersonation.Login{UserID: "alice"}, l.signedIn
}

func (l *exampleLogin) Logout(http.ResponseWriter, *http.Request) error {
	l.signedIn = false
	return nil
}

func ExampleWithLogout() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	// The client registers where a logout may send the browser back to,
	// and that its users need not confirm.
	c, err := e.DB.Client(ctx, "app")
	if err != nil {
		fmt.Println(err)
		return
	}
	c.PostLogoutRedirectURIs = []string{"https://app.example/signed-out"}
	c.SkipLogoutConsent = true
	if err := e.DB.PutClient(*c); err != nil {
		fmt.Println(err)
		return
	}
	// alice's ID token, as the client got it when she signed in.
	ar, err := e.Authorize(ctx, "alice", "bob")
	if err != nil {
		fmt.Println(err)
		return
	}

	login := &exampleLogin{signedIn: true}
	endpoints, err := e.Svc.Handlers(ctx, login, impersonation.WithLogout(login))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The client sends the browser to the end-session endpoint.
	v := url.Values{
		"id_token_hint":            {ar.IDToken},
		"post_logout_redirect_uri": {"https://app.example/signed-out"},
		"state":                    {"af0ifjsldkj"},
	}
	w := httptest.NewRecorder()
	endpoints.EndSession.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testkit.ExampleIssuer+"/oauth2/logout?"+v.Encode(), nil))
	fmt.Println(w.Code, w.Header().Get("Location"))
	fmt.Println("signed in:", login.signedIn)
	for _, ev := range e.DB.Events() {
		if ev.Type == store.EventLoggedOut {
			fmt.Println("audit:", ev.Type, ev.Subject, ev.ClientID)
		}
	}
	// Output:
	// 303 https://app.example/signed-out?state=af0ifjsldkj
	// signed in: false
	// audit: user.logged_out alice app
}

// The host's login as one function, and every endpoint mounted in one
// call: a request to the authorize endpoint signs alice in as the host
// says and redirects with bob's subject token.
func ExampleAuthenticatorFunc() {
	ctx := context.Background()
	e, err := testkit.NewExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	login := impersonation.AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request) (impersonation.Login, bool) {
		return impersonation.Login{UserID: "alice", AuthTime: e.Now()}, true // the host's session says so
	})
	endpoints, err := e.Svc.Handlers(ctx, login)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	if err := endpoints.Mount(mux); err != nil {
		fmt.Println(err)
		return
	}
	q := url.Values{
		"client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "state": {"s1"},
		"scope": {"internal_user_impersonate openid"}, "response_type": {"subject_token"}, "requested_subject": {"bob"},
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, testkit.ExampleIssuer+"/oauth2/authorize?"+q.Encode(), nil))
	loc, _ := url.Parse(w.Header().Get("Location"))
	frag, _ := url.ParseQuery(loc.Fragment)
	fmt.Println(w.Code, loc.Host, frag.Get("state"), frag.Get("subject_token") != "")
	// Output:
	// 302 app.example s1 true
}
