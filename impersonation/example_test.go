package impersonation_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
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
