package subjecttoken_test

import (
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// authzClients is a hand-written, read-only store.Clients fake.
type authzClients map[string]*store.Client

var _ store.Clients = authzClients(nil)

func (c authzClients) Client(_ context.Context, id string) (*store.Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("authz fake: client %q: %w", id, store.ErrNotFound)
}

// authzFailingClients fails every look-up with err.
type authzFailingClients struct{ err error }

var _ store.Clients = authzFailingClients{}

func (c authzFailingClients) Client(context.Context, string) (*store.Client, error) {
	return nil, c.err
}

const (
	authzCB      = "https://app.example.com/cb"
	authzCBQuery = "https://app.example.com/cb2?tenant=a"
	authzCBFrag  = "https://app.example.com/cb3#frag"
	authzNative  = "com.example.app:/cb"
	authzSubject = "32bc4697-ed0f-4546-8387-dcd6403e7caa"
)

// authzTestClients returns the clients the tests use. Values are fresh
// per call so parallel tests share nothing.
func authzTestClients() authzClients {
	return authzClients{
		"app": {
			ID:           "app",
			RedirectURIs: []string{authzCB, authzCBQuery, authzCBFrag, authzNative},
		},
		"queryapp": {
			ID:            "queryapp",
			RedirectURIs:  []string{authzCB, authzCBQuery},
			ResponseModes: []string{store.ResponseModeQuery, store.ResponseModeFragment},
		},
		"formonly": {
			ID:            "formonly",
			RedirectURIs:  []string{authzCB},
			ResponseModes: []string{store.ResponseModeFormPost},
		},
	}
}

// authzValues returns a valid request for client "app".
func authzValues() url.Values {
	return url.Values{
		"client_id":         {"app"},
		"redirect_uri":      {authzCB},
		"state":             {"st-1"},
		"scope":             {"internal_user_impersonate openid"},
		"response_type":     {"subject_token"},
		"requested_subject": {authzSubject},
	}
}

// authzParse parses v against the test clients and requires success.
func authzParse(t testing.TB, v url.Values) *subjecttoken.AuthorizeRequest {
	t.Helper()
	req, client, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, authzTestClients())
	require.NoError(t, err)
	require.NotNil(t, client)
	return req
}

// authzDelivered is what a response written to a recorder delivers to the
// client: the mode and the parameters.
type authzDelivered struct {
	mode   string
	base   string
	params url.Values
}

// authzRead decodes a redirect (fragment or query) or form_post response.
func authzRead(t testing.TB, rec *httptest.ResponseRecorder) authzDelivered {
	t.Helper()
	switch rec.Code {
	case http.StatusFound:
		loc := rec.Header().Get("Location")
		require.NotEmpty(t, loc)
		if base, frag, ok := strings.Cut(loc, "#"); ok {
			p, err := url.ParseQuery(frag)
			require.NoError(t, err)
			return authzDelivered{mode: store.ResponseModeFragment, base: base, params: p}
		}
		u, err := url.Parse(loc)
		require.NoError(t, err)
		p, err := url.ParseQuery(u.RawQuery)
		require.NoError(t, err)
		u.RawQuery = ""
		return authzDelivered{mode: store.ResponseModeQuery, base: u.String(), params: p}
	case http.StatusOK:
		f := authzParseForm(t, rec.Body.String())
		return authzDelivered{mode: store.ResponseModeFormPost, base: f.action, params: f.inputs}
	default:
		require.Failf(t, "unexpected status", "status %d", rec.Code)
		return authzDelivered{}
	}
}

// authzForm is what the form_post page holds.
type authzForm struct {
	method, action string
	inputs         url.Values
	hiddenOnly     bool
	scriptNonce    string
	noscriptSubmit bool
}

// authzParseForm parses the form_post page as HTML (encoding/xml in its
// lenient HTML mode) and returns the form.
func authzParseForm(t testing.TB, page string) authzForm {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	f := authzForm{inputs: url.Values{}, hiddenOnly: true}
	inNoscript := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch el := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch el.Name.Local {
			case "form":
				f.method, f.action = attr("method"), attr("action")
			case "input":
				if attr("type") != "hidden" {
					f.hiddenOnly = false
				}
				f.inputs.Add(attr("name"), attr("value"))
			case "script":
				f.scriptNonce = attr("nonce")
			case "noscript":
				inNoscript = true
			case "button":
				if inNoscript && attr("type") == "submit" {
					f.noscriptSubmit = true
				}
			}
		case xml.EndElement:
			if el.Name.Local == "noscript" {
				inNoscript = false
			}
		}
	}
	return f
}

// authzSet returns a mutation of a request that sets each key of kv
// (key, value, key, value, ...) to its value.
func authzSet(kv ...string) func(url.Values) {
	return func(v url.Values) {
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
	}
}

// authzQueryMode is authzSet for client queryapp in query mode, then kv.
func authzQueryMode(kv ...string) func(url.Values) {
	return authzSet(append([]string{"client_id", "queryapp", "response_mode", "query"}, kv...)...)
}

// authzWant is the request authzValues parses to, changed by each of mods.
func authzWant(mods ...func(*subjecttoken.AuthorizeRequest)) subjecttoken.AuthorizeRequest {
	r := subjecttoken.AuthorizeRequest{
		ClientID: "app", RedirectURI: authzCB, State: "st-1",
		Scope: claims.Scope{"internal_user_impersonate", "openid"}, ResponseMode: store.ResponseModeFragment,
		RequestedSubject: authzSubject,
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// authzIDToken is the change to a request asking for an ID token with nonce.
func authzIDToken(nonce string) func(*subjecttoken.AuthorizeRequest) {
	return func(r *subjecttoken.AuthorizeRequest) { r.IDToken, r.Nonce = true, nonce }
}

// authzRefuse parses v against clients and requires the refusal of an
// *Error, returning it and the error as returned.
func authzRefuse(t testing.TB, v url.Values, clients store.Clients) (*subjecttoken.Error, error) {
	t.Helper()
	req, client, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, clients)
	require.Error(t, err)
	assert.Nil(t, req)
	assert.Nil(t, client)
	var e *subjecttoken.Error
	require.ErrorAs(t, err, &e)
	return e, err
}

// authzWriteError writes err as an authorize error to a new recorder.
func authzWriteError(err error) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeError(rec, err)
	return rec
}

// authzAssertPage checks an error shown as a plain-text page with status,
// never redirected.
func authzAssertPage(t testing.TB, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	assert.Equal(t, status, rec.Code)
	assert.Empty(t, rec.Header().Get("Location"))
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	authzRequireNoStore(t, rec)
}

func TestParseAuthorizeValues_Accepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(url.Values)
		want   subjecttoken.AuthorizeRequest
	}{
		{name: "subject_token", mutate: authzSet(), want: authzWant()},
		{name: "id_token subject_token", mutate: authzSet("response_type", "id_token subject_token", "nonce", "2131232"),
			want: authzWant(authzIDToken("2131232"))},
		{name: "subject_token id_token in the other order", mutate: authzSet("response_type", "subject_token id_token", "nonce", "n"),
			want: authzWant(authzIDToken("n"))},
		{
			name: "seed request with comma-separated scope",
			mutate: authzSet("state", "sample_state", "scope", "internal_user_impersonate,openid,internal_org_user_mgt_view",
				"response_type", "id_token subject_token", "nonce", "2131232"),
			want: authzWant(authzIDToken("2131232"), func(r *subjecttoken.AuthorizeRequest) {
				r.State = "sample_state"
				r.Scope = claims.Scope{"internal_user_impersonate", "openid", "internal_org_user_mgt_view"}
			}),
		},
		{name: "extra spaces in response_type", mutate: authzSet("response_type", " id_token  subject_token ", "nonce", "n"),
			want: authzWant(authzIDToken("n"))},
		{name: "nonce kept without id_token", mutate: authzSet("nonce", "n"),
			want: authzWant(func(r *subjecttoken.AuthorizeRequest) { r.Nonce = "n" })},
		{name: "no state", mutate: func(v url.Values) { v.Del("state") },
			want: authzWant(func(r *subjecttoken.AuthorizeRequest) { r.State = "" })},
		{name: "explicit fragment", mutate: authzSet("response_mode", "fragment"), want: authzWant()},
		{name: "form_post allowed by default", mutate: authzSet("response_mode", "form_post"),
			want: authzWant(func(r *subjecttoken.AuthorizeRequest) { r.ResponseMode = store.ResponseModeFormPost })},
		{name: "query when the client lists it", mutate: authzQueryMode("redirect_uri", authzCBQuery),
			want: authzWant(func(r *subjecttoken.AuthorizeRequest) {
				r.ClientID, r.RedirectURI, r.ResponseMode = "queryapp", authzCBQuery, store.ResponseModeQuery
			})},
		{name: "form_post only client", mutate: authzSet("client_id", "formonly", "response_mode", "form_post"),
			want: authzWant(func(r *subjecttoken.AuthorizeRequest) {
				r.ClientID, r.ResponseMode = "formonly", store.ResponseModeFormPost
			})},
		{name: "unknown parameters ignored", mutate: authzSet("prompt", "login", "x-custom", "1"), want: authzWant()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			tc.mutate(v)
			req, client, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, authzTestClients())
			require.NoError(t, err)
			require.NotNil(t, client)
			assert.Equal(t, tc.want.ClientID, client.ID)
			assert.Equal(t, tc.want, *req)
		})
	}
}

func TestParseAuthorizeValues_Rejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(url.Values)
		code    string
		unbound bool   // never redirected: shown as a page
		mode    string // delivery mode of a redirected error; empty: fragment
		noState bool   // a redirected error echoes no state; else "st-1"
	}{
		// 1. Client and redirect URI: never redirected.
		{name: "client_id missing", mutate: func(v url.Values) { v.Del("client_id") }, code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "client_id empty", mutate: authzSet("client_id", ""), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "client_id repeated", mutate: func(v url.Values) { v.Add("client_id", "app") }, code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "client unknown", mutate: authzSet("client_id", "nobody"), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri missing", mutate: func(v url.Values) { v.Del("redirect_uri") }, code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri repeated", mutate: func(v url.Values) { v.Add("redirect_uri", authzCB) }, code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri foreign", mutate: authzSet("redirect_uri", "https://evil.example/cb"), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri trailing slash", mutate: authzSet("redirect_uri", authzCB+"/"), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri upper-case host", mutate: authzSet("redirect_uri", "https://APP.example.com/cb"), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri extra query", mutate: authzSet("redirect_uri", authzCB+"?x=1"), code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri registered for another client", mutate: authzSet("client_id", "formonly", "redirect_uri", authzCBQuery),
			code: subjecttoken.ErrInvalidRequest.Code, unbound: true},
		{name: "redirect_uri mismatch with bad response_type", mutate: authzSet("redirect_uri", "https://evil.example/cb", "response_type", "code"),
			code: subjecttoken.ErrInvalidRequest.Code, unbound: true},

		// 2. Response mode: sent in fragment mode.
		{name: "response_mode unknown", mutate: authzSet("response_mode", "web_message"), code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_mode repeated", mutate: func(v url.Values) { v["response_mode"] = []string{"form_post", "form_post"} },
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_mode query not listed", mutate: authzSet("response_mode", "query"), code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_mode fragment not listed", mutate: authzSet("client_id", "formonly", "response_mode", "fragment"),
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_mode form_post to a non-http redirect_uri", mutate: authzSet("redirect_uri", authzNative, "response_mode", "form_post"),
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_mode bad and state repeated", mutate: func(v url.Values) {
			v.Set("response_mode", "bogus")
			v.Add("state", "again")
		}, code: subjecttoken.ErrInvalidRequest.Code, noState: true},

		// 3. State.
		{name: "state repeated", mutate: func(v url.Values) { v.Add("state", "st-2") }, code: subjecttoken.ErrInvalidRequest.Code, noState: true},
		{name: "state repeated in form_post", mutate: func(v url.Values) { v.Add("state", "st-2"); v.Set("response_mode", "form_post") },
			code: subjecttoken.ErrInvalidRequest.Code, mode: store.ResponseModeFormPost, noState: true},

		// 4. Any repeated parameter.
		{name: "scope repeated", mutate: func(v url.Values) { v.Add("scope", "openid") }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_type repeated", mutate: func(v url.Values) { v.Add("response_type", "subject_token") }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "requested_subject repeated", mutate: func(v url.Values) { v.Add("requested_subject", "other") }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "nonce repeated", mutate: func(v url.Values) { v["nonce"] = []string{"a", "b"} }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "prompt repeated", mutate: func(v url.Values) { v["prompt"] = []string{"login", "none"} }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "unknown parameter repeated", mutate: func(v url.Values) { v["x-custom"] = []string{"1", "2"} }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "repeated parameter in query mode", mutate: func(v url.Values) {
			authzQueryMode()(v)
			v["login_hint"] = []string{"a", "b"}
		}, code: subjecttoken.ErrInvalidRequest.Code, mode: store.ResponseModeQuery},

		// 5. Response type.
		{name: "response_type missing", mutate: func(v url.Values) { v.Del("response_type") }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "response_type code", mutate: authzSet("response_type", "code"), code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type id_token alone", mutate: authzSet("response_type", "id_token", "nonce", "n"), code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type with token", mutate: authzSet("response_type", "subject_token token"), code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type duplicate word", mutate: authzSet("response_type", "subject_token subject_token"), code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type duplicate id_token", mutate: authzSet("response_type", "id_token subject_token id_token", "nonce", "n"),
			code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type comma-separated", mutate: authzSet("response_type", "id_token,subject_token", "nonce", "n"),
			code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type wrong case", mutate: authzSet("response_type", "Subject_Token"), code: subjecttoken.ErrUnsupportedResponseType.Code},
		{name: "response_type in form_post", mutate: authzSet("response_type", "code", "response_mode", "form_post"),
			code: subjecttoken.ErrUnsupportedResponseType.Code, mode: store.ResponseModeFormPost},

		// 6. Scope.
		{name: "scope missing", mutate: func(v url.Values) { v.Del("scope") }, code: subjecttoken.ErrInvalidScope.Code},
		{name: "scope without impersonate", mutate: authzSet("scope", "openid profile"), code: subjecttoken.ErrInvalidScope.Code},
		{name: "scope with impersonate prefix only", mutate: authzSet("scope", "internal_user_impersonate_x openid"), code: subjecttoken.ErrInvalidScope.Code},

		// 7. Requested subject and nonce.
		{name: "requested_subject missing", mutate: func(v url.Values) { v.Del("requested_subject") }, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "requested_subject empty", mutate: authzSet("requested_subject", ""), code: subjecttoken.ErrInvalidRequest.Code},
		{name: "nonce missing with id_token", mutate: authzSet("response_type", "id_token subject_token"), code: subjecttoken.ErrInvalidRequest.Code},
		{name: "nonce empty with id_token", mutate: authzSet("response_type", "id_token subject_token", "nonce", ""), code: subjecttoken.ErrInvalidRequest.Code},
		{name: "nonce missing without state", mutate: func(v url.Values) {
			v.Del("state")
			v.Set("response_type", "id_token subject_token")
		}, code: subjecttoken.ErrInvalidRequest.Code, noState: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			tc.mutate(v)
			e, err := authzRefuse(t, v, authzTestClients())
			assert.Equal(t, tc.code, e.Code)
			assert.Equal(t, !tc.unbound, e.Redirectable())
			assert.NotEmpty(t, e.Description)

			rec := authzWriteError(err)
			if tc.unbound {
				authzAssertPage(t, rec, http.StatusBadRequest)
				assert.True(t, strings.HasPrefix(rec.Body.String(), tc.code+": "), rec.Body.String())
				return
			}
			got := authzRead(t, rec)
			assert.Equal(t, cmp.Or(tc.mode, store.ResponseModeFragment), got.mode)
			assert.Equal(t, tc.code, got.params.Get("error"))
			assert.Equal(t, e.Description, got.params.Get("error_description"))
			wantState := "st-1"
			if tc.noState {
				wantState = ""
			}
			assert.Equal(t, wantState, got.params.Get("state"))
			_, hasState := got.params["state"]
			assert.Equal(t, !tc.noState, hasState)
		})
	}
}

// authzAssertWraps parses authzValues changed by mutate and checks that
// the error wraps each of is and not isNot.
func authzAssertWraps(t testing.TB, mutate func(url.Values), isNot error, is ...error) {
	t.Helper()
	v := authzValues()
	mutate(v)
	_, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, authzTestClients())
	for _, want := range is {
		require.ErrorIs(t, err, want)
	}
	assert.NotErrorIs(t, err, isNot)
}

func TestParseAuthorizeValues_UnknownClientWrapsErrUnknownClient(t *testing.T) {
	t.Parallel()
	authzAssertWraps(t, authzSet("client_id", "nobody"), subjecttoken.ErrRedirectURIMismatch,
		subjecttoken.ErrUnknownClient, store.ErrNotFound, subjecttoken.ErrInvalidRequest)
}

func TestParseAuthorizeValues_RedirectURIMismatchWrapsSentinel(t *testing.T) {
	t.Parallel()
	authzAssertWraps(t, authzSet("redirect_uri", "https://evil.example/cb"), subjecttoken.ErrUnknownClient,
		subjecttoken.ErrRedirectURIMismatch, subjecttoken.ErrInvalidRequest)
}

func TestParseAuthorizeValues_StoreFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("db: connection refused")
	tests := []struct {
		name    string
		clients store.Clients
		code    string
		cause   error
	}{
		{name: "store error is server_error with cause", clients: authzFailingClients{err: boom}, code: subjecttoken.ErrServerError.Code, cause: boom},
		{name: "wrapped not found is unknown client", clients: authzFailingClients{err: fmt.Errorf("db: %w", store.ErrNotFound)},
			code: subjecttoken.ErrInvalidRequest.Code, cause: subjecttoken.ErrUnknownClient},
		{name: "nil client without error is unknown client", clients: authzFailingClients{},
			code: subjecttoken.ErrInvalidRequest.Code, cause: subjecttoken.ErrUnknownClient},
		{name: "nil store is server_error", clients: nil, code: subjecttoken.ErrServerError.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := authzRefuse(t, authzValues(), tc.clients)
			assert.Equal(t, tc.code, e.Code)
			assert.False(t, e.Redirectable())
			if tc.cause != nil {
				require.ErrorIs(t, err, tc.cause)
			}

			rec := authzWriteError(err)
			assert.Empty(t, rec.Header().Get("Location"))
			assert.NotContains(t, rec.Body.String(), "connection refused")
			if tc.code == subjecttoken.ErrServerError.Code {
				assert.Equal(t, http.StatusInternalServerError, rec.Code)
			}
		})
	}
}

// TestRFC6749_4_1_2_1_NeverRedirectToInvalidRedirectURI: "the
// authorization server ... MUST NOT automatically redirect the user-agent
// to the invalid redirection URI", even when the rest of the request is
// also wrong.
func TestRFC6749_4_1_2_1_NeverRedirectToInvalidRedirectURI(t *testing.T) {
	t.Parallel()
	const evil = "https://evil.example/steal"
	tests := []struct {
		name   string
		mutate func(url.Values)
	}{
		{name: "foreign redirect_uri", mutate: authzSet("redirect_uri", evil)},
		{name: "foreign redirect_uri and bad scope", mutate: authzSet("redirect_uri", evil, "scope", "openid")},
		{name: "foreign redirect_uri and repeated state", mutate: func(v url.Values) { v.Set("redirect_uri", evil); v.Add("state", "x") }},
		{name: "foreign redirect_uri and form_post", mutate: authzSet("redirect_uri", evil, "response_mode", "form_post")},
		{name: "unknown client with its own redirect_uri", mutate: authzSet("client_id", "evil", "redirect_uri", evil)},
		{name: "second redirect_uri", mutate: func(v url.Values) { v.Add("redirect_uri", evil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			tc.mutate(v)
			e, err := authzRefuse(t, v, authzTestClients())
			assert.False(t, e.Redirectable())

			rec := authzWriteError(err)
			authzAssertPage(t, rec, http.StatusBadRequest)
			assert.NotContains(t, rec.Body.String(), "evil.example")
		})
	}
}

// TestRFC6749_3_1_EmptyParameterTreatedAsOmitted: "Parameters sent
// without a value MUST be treated as if they were omitted from the request."
func TestRFC6749_3_1_EmptyParameterTreatedAsOmitted(t *testing.T) {
	t.Parallel()
	req := authzRequest(t, authzSet("response_mode", "", "state", "", "nonce", ""))
	assert.Equal(t, store.ResponseModeFragment, req.ResponseMode)
	assert.Empty(t, req.State)
	assert.Empty(t, req.Nonce)
}

// TestRFC6749_3_1_RepeatedParameterRejected: "Request and response
// parameters MUST NOT be included more than once."
func TestRFC6749_3_1_RepeatedParameterRejected(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"client_id", "redirect_uri", "state", "scope", "response_type",
		"requested_subject", "nonce", "response_mode", "prompt", "login_hint", "x-anything"} {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			v.Set("nonce", "n")
			v.Set("response_mode", "fragment")
			v[k] = append(v[k], v.Get(k), "other")
			_, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, authzTestClients())
			require.ErrorIs(t, err, subjecttoken.ErrInvalidRequest)
		})
	}
}

func TestParseAuthorizeRequest(t *testing.T) {
	t.Parallel()
	form := authzValues()
	form.Set("response_type", "id_token subject_token")
	form.Set("nonce", "n-1")
	const formType = "application/x-www-form-urlencoded"

	tests := []struct {
		name        string
		method      string
		target      string
		body        string
		contentType string
		code        string // empty: success
	}{
		{name: "GET query", method: http.MethodGet, target: "/authorize?" + form.Encode()},
		{name: "POST form", method: http.MethodPost, target: "/authorize", body: form.Encode(), contentType: formType},
		{name: "POST form with charset", method: http.MethodPost, target: "/authorize", body: form.Encode(), contentType: formType + "; charset=UTF-8"},
		{name: "POST ignores the URL query", method: http.MethodPost, target: "/authorize?" + form.Encode(),
			body: "", contentType: formType, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "POST JSON", method: http.MethodPost, target: "/authorize", body: `{"client_id":"app"}`,
			contentType: "application/json", code: subjecttoken.ErrInvalidRequest.Code},
		{name: "POST without content type", method: http.MethodPost, target: "/authorize", body: form.Encode(),
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "POST oversized", method: http.MethodPost, target: "/authorize",
			body: form.Encode() + "&pad=" + strings.Repeat("a", 64<<10), contentType: formType, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "POST malformed", method: http.MethodPost, target: "/authorize", body: form.Encode() + "&bad=%zz",
			contentType: formType, code: subjecttoken.ErrInvalidRequest.Code},
		{name: "GET malformed query", method: http.MethodGet, target: "/authorize?" + form.Encode() + "&bad=%zz",
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "GET semicolon separator", method: http.MethodGet, target: "/authorize?" + form.Encode() + ";x=1",
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "PUT", method: http.MethodPut, target: "/authorize", body: form.Encode(), contentType: formType,
			code: subjecttoken.ErrInvalidRequest.Code},
		{name: "DELETE with a valid query", method: http.MethodDelete, target: "/authorize?" + form.Encode(),
			code: subjecttoken.ErrInvalidRequest.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, tc.target, body)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			req, client, err := subjecttoken.ParseAuthorizeRequest(r.Context(), r, authzTestClients())
			if tc.code == "" {
				require.NoError(t, err)
				assert.Equal(t, "app", client.ID)
				assert.Equal(t, authzWant(authzIDToken("n-1")), *req)
				return
			}
			var e *subjecttoken.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.code, e.Code)
			assert.False(t, e.Redirectable())
		})
	}
}

func TestAuthorizeRequest_Redirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(url.Values)
		mode   string
		state  string
	}{
		{name: "fragment", mutate: func(url.Values) {}, mode: store.ResponseModeFragment, state: "st-1"},
		{name: "form_post", mutate: authzSet("response_mode", "form_post"), mode: store.ResponseModeFormPost, state: "st-1"},
		{name: "query without state", mutate: func(v url.Values) {
			authzQueryMode()(v)
			v.Del("state")
		}, mode: store.ResponseModeQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := authzRequest(t, tc.mutate)

			e := req.Redirect(subjecttoken.ErrAccessDenied.WithDescription("not allowed to impersonate this user"))
			require.True(t, e.Redirectable())
			require.ErrorIs(t, e, subjecttoken.ErrAccessDenied)
			assert.False(t, subjecttoken.ErrAccessDenied.Redirectable())

			got := authzRead(t, authzWriteError(fmt.Errorf("policy: %w", e)))
			assert.Equal(t, tc.mode, got.mode)
			assert.Equal(t, authzCB, got.base)
			assert.Equal(t, url.Values{
				"error":             {"access_denied"},
				"error_description": {"not allowed to impersonate this user"},
			}, authzWithout(got.params, "state"))
			assert.Equal(t, tc.state, got.params.Get("state"))
		})
	}

	t.Run("nil request is not redirectable", func(t *testing.T) {
		t.Parallel()
		var req *subjecttoken.AuthorizeRequest
		e := req.Redirect(subjecttoken.ErrAccessDenied)
		assert.False(t, e.Redirectable())
		assert.Equal(t, subjecttoken.ErrAccessDenied.Code, e.Code)
	})
	t.Run("nil error becomes server_error", func(t *testing.T) {
		t.Parallel()
		e := authzParse(t, authzValues()).Redirect(nil)
		assert.True(t, e.Redirectable())
		assert.Equal(t, subjecttoken.ErrServerError.Code, e.Code)
	})
}

// authzWithout returns a copy of v without the key k.
func authzWithout(v url.Values, k string) url.Values {
	out := url.Values{}
	for key, vs := range v {
		if key != k {
			out[key] = vs
		}
	}
	return out
}

func TestParseAuthorizeRequest_PostLeavesFormForLaterHandlers(t *testing.T) {
	t.Parallel()
	clients := authzTestClients()
	body := authzValues()
	body.Set("consent", "allow")
	r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(body.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err := subjecttoken.ParseAuthorizeRequest(context.Background(), r, clients)
	require.NoError(t, err)
	assert.Equal(t, "allow", r.PostForm.Get("consent"), "a consent page posting back reads its own field")
}

// authzReasonError is the description of every refused impersonation_reason.
const authzReasonError = "impersonation_reason must be at most 512 bytes of printable text"

func TestParseAuthorizeValues_ImpersonationReason(t *testing.T) {
	t.Parallel()
	euro512 := strings.Repeat("€", 170) + "ab" // 170×3 + 2 bytes
	tests := []struct {
		name   string
		reason []string // the parameter's values; nil: absent
		want   string
	}{
		{name: "absent", want: ""},
		{name: "empty is absent", reason: []string{""}, want: ""},
		{name: "ticket ID", reason: []string{"SUP-4711"}, want: "SUP-4711"},
		{name: "free text with punctuation", reason: []string{`customer can't see order #12 (urgent!) & "refund" 100%`},
			want: `customer can't see order #12 (urgent!) & "refund" 100%`},
		{name: "non-ASCII text", reason: []string{"Kundin sieht keine Bestellungen – Ticket №12 ✓"},
			want: "Kundin sieht keine Bestellungen – Ticket №12 ✓"},
		{name: "leading and trailing spaces kept", reason: []string{"  SUP-4711  "}, want: "  SUP-4711  "},
		{name: "exactly 512 bytes", reason: []string{strings.Repeat("r", subjecttoken.MaxReasonBytes)},
			want: strings.Repeat("r", subjecttoken.MaxReasonBytes)},
		{name: "exactly 512 bytes of multi-byte text", reason: []string{euro512}, want: euro512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, 512, subjecttoken.MaxReasonBytes)
			v := authzValues()
			if tc.reason != nil {
				v["impersonation_reason"] = tc.reason
			}
			req := authzParse(t, v)
			assert.Equal(t, tc.want, req.Reason)
			assert.Equal(t, authzWant(func(r *subjecttoken.AuthorizeRequest) { r.Reason = tc.want }), *req,
				"the reason changes nothing else")
		})
	}
}

func TestParseAuthorizeValues_ImpersonationReasonRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(url.Values)
		desc    string // empty: authzReasonError
		unbound bool   // never redirected: shown as a page
		mode    string // delivery mode of a redirected error; empty: fragment
	}{
		{name: "513 bytes", mutate: authzSet("impersonation_reason", strings.Repeat("r", subjecttoken.MaxReasonBytes+1))},
		{name: "171 characters but 513 bytes", mutate: authzSet("impersonation_reason", strings.Repeat("€", 171))},
		{name: "64 KiB", mutate: authzSet("impersonation_reason", strings.Repeat("r", 64<<10))},
		{name: "line feed", mutate: authzSet("impersonation_reason", "SUP-4711\nevent=impersonation.started impersonator=root")},
		{name: "carriage return", mutate: authzSet("impersonation_reason", "SUP-4711\r")},
		{name: "tab", mutate: authzSet("impersonation_reason", "SUP\t4711")},
		{name: "NUL", mutate: authzSet("impersonation_reason", "SUP\x004711")},
		{name: "escape sequence", mutate: authzSet("impersonation_reason", "\x1b[31mSUP-4711")},
		{name: "DEL", mutate: authzSet("impersonation_reason", "SUP-4711\x7f")},
		{name: "C1 control NEL", mutate: authzSet("impersonation_reason", "SUP\u00854711")},
		{name: "invalid UTF-8", mutate: authzSet("impersonation_reason", "SUP-\xff4711")},
		{name: "truncated UTF-8", mutate: authzSet("impersonation_reason", "SUP-4711 \xe2\x82")},
		{name: "in form_post mode", mutate: authzSet("response_mode", "form_post", "impersonation_reason", "a\nb"),
			mode: store.ResponseModeFormPost},
		{name: "in query mode", mutate: authzQueryMode("impersonation_reason", "a\nb"), mode: store.ResponseModeQuery},
		{name: "repeated", mutate: func(v url.Values) { v["impersonation_reason"] = []string{"SUP-1", "SUP-2"} },
			desc: "impersonation_reason is repeated"},
		{name: "bad reason from an unknown client is not redirected", mutate: authzSet("client_id", "nobody", "impersonation_reason", "a\nb"),
			desc: "unknown client_id", unbound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			tc.mutate(v)
			desc := cmp.Or(tc.desc, authzReasonError)
			e, err := authzRefuse(t, v, authzTestClients())
			require.ErrorIs(t, err, subjecttoken.ErrInvalidRequest)
			assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, e.Code)
			assert.Equal(t, desc, e.Description)
			assert.Equal(t, !tc.unbound, e.Redirectable())

			rec := authzWriteError(err)
			reason := v.Get("impersonation_reason")
			assert.NotContains(t, rec.Body.String()+rec.Header().Get("Location"), url.QueryEscape(reason), "the reason is not echoed")
			if tc.unbound {
				authzAssertPage(t, rec, http.StatusBadRequest)
				assert.Equal(t, "invalid_request: "+desc+"\n", rec.Body.String())
				return
			}
			got := authzRead(t, rec)
			assert.Equal(t, cmp.Or(tc.mode, store.ResponseModeFragment), got.mode)
			assert.Equal(t, url.Values{
				"error":             {subjecttoken.ErrInvalidRequest.Code},
				"error_description": {desc},
				"state":             {"st-1"},
			}, got.params)
		})
	}
}

// TestParseAuthorizeValues_ImpersonationReasonNotPrintable: "printable"
// text has no format characters (bidi overrides, which reorder what an
// audit log viewer shows) and no line or paragraph separators (which split
// a log line in some viewers).
func TestParseAuthorizeValues_ImpersonationReasonNotPrintable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason string
	}{
		{name: "line separator", reason: "SUP-4711\u2028impersonator=root"},
		{name: "paragraph separator", reason: "SUP-4711\u2029"},
		{name: "right-to-left override", reason: "SUP-\u202e1174"},
		{name: "left-to-right isolate", reason: "SUP-\u20664711"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := authzValues()
			v.Set("impersonation_reason", tc.reason)
			_, _, err := subjecttoken.ParseAuthorizeValues(context.Background(), v, authzTestClients())
			require.ErrorIs(t, err, subjecttoken.ErrInvalidRequest)
		})
	}
}

func TestParseAuthorizeRequest_ImpersonationReason(t *testing.T) {
	t.Parallel()
	const reason = "SUP-4711: order #12 & refund = 100% +tax"
	v := authzValues()
	v.Set("impersonation_reason", reason)
	tests := []struct {
		name    string
		request func() *http.Request
	}{
		{name: "GET query", request: func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/authorize?"+v.Encode(), nil)
		}},
		{name: "POST form", request: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(v.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.request()
			req, _, err := subjecttoken.ParseAuthorizeRequest(r.Context(), r, authzTestClients())
			require.NoError(t, err)
			assert.Equal(t, reason, req.Reason)
		})
	}
}

func TestParseAuthorizeValues_TooManyScopes(t *testing.T) {
	t.Parallel()
	v := authzValues()
	scopes := []string{subjecttoken.ScopeImpersonate}
	for i := range claims.MaxScopeTokens {
		scopes = append(scopes, fmt.Sprintf("s%d", i))
	}
	v.Set("scope", strings.Join(scopes, " "))
	e, _ := authzRefuse(t, v, authzTestClients())
	assert.Equal(t, subjecttoken.ErrInvalidScope.Code, e.Code)
	assert.True(t, e.Redirectable())
}
