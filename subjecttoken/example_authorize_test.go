package subjecttoken_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
)

// ExampleParseAuthorizeValues parses the authorization request of the
// flow's reference document, then shows how a policy refusal goes back to
// the client and how a request with an unregistered redirect_uri is shown
// to the user instead of being redirected.
func ExampleParseAuthorizeValues() {
	clients := memory.New()
	if err := clients.PutClient(store.Client{
		ID:            "jVcW4oLn1Jjb2T94H4gtPV9z5Y0a",
		RedirectURIs:  []string{"https://oauth.pstmn.io/v1/callback"},
		Impersonation: true,
	}); err != nil {
		fmt.Println(err)
		return
	}

	v := url.Values{
		"client_id":         {"jVcW4oLn1Jjb2T94H4gtPV9z5Y0a"},
		"redirect_uri":      {"https://oauth.pstmn.io/v1/callback"},
		"state":             {"sample_state"},
		"scope":             {"internal_user_impersonate,openid,internal_org_user_mgt_view"},
		"response_type":     {"id_token subject_token"},
		"requested_subject": {"32bc4697-ed0f-4546-8387-dcd6403e7caa"},
		"nonce":             {"2131232"},
	}
	req, client, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, clients)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("client:", client.ID)
	fmt.Println("subject:", req.RequestedSubject)
	fmt.Println("scope:", req.Scope)
	fmt.Println("id_token:", req.IDToken, "nonce:", req.Nonce)
	fmt.Println("response_mode:", req.ResponseMode)

	// The policy layer refuses: the error goes back to the client.
	rec := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(rec, req.Redirect(subjecttoken.ErrAccessDenied))
	fmt.Println(rec.Code, rec.Header().Get("Location"))

	// An unregistered redirect_uri is never redirected to.
	v.Set("redirect_uri", "https://evil.example/cb")
	_, _, err = subjecttoken.ParseAuthorizeValues(context.Background(), v, clients)
	fmt.Println(errors.Is(err, subjecttoken.ErrRedirectURIMismatch))
	rec = httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(rec, err)
	fmt.Printf("%d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	// Output:
	// client: jVcW4oLn1Jjb2T94H4gtPV9z5Y0a
	// subject: 32bc4697-ed0f-4546-8387-dcd6403e7caa
	// scope: internal_user_impersonate openid internal_org_user_mgt_view
	// id_token: true nonce: 2131232
	// response_mode: fragment
	// 302 https://oauth.pstmn.io/v1/callback#error=access_denied&state=sample_state
	// true
	// 400 "" invalid_request: redirect_uri is not registered for the client
}
