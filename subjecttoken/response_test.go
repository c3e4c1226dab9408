package subjecttoken_test

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

const authzXSS = `"><script>alert(1)</script>`

// authzRequireNoStore checks the caching headers every response carries.
func authzRequireNoStore(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
}

// authzRequest parses authzValues changed by mutate and requires success.
func authzRequest(t testing.TB, mutate func(url.Values)) *subjecttoken.AuthorizeRequest {
	t.Helper()
	v := authzValues()
	mutate(v)
	return authzParse(t, v)
}

// authzWriteResponse writes resp to req to a new recorder.
func authzWriteResponse(req *subjecttoken.AuthorizeRequest, resp *subjecttoken.AuthorizeResponse) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	subjecttoken.WriteAuthorizeResponse(rec, req, resp)
	return rec
}

// authzWithIDToken is the mutation to a request for an ID token as well.
var authzWithIDToken = authzSet("response_type", "id_token subject_token", "nonce", "n")

func TestWriteAuthorizeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(url.Values)
		idToken  bool // the response carries an ID token besides the subject token
		mode     string
		base     string // empty: authzCB
		want     url.Values
		location string // exact Location, when checked
	}{
		{
			name: "fragment", mutate: authzSet(), mode: store.ResponseModeFragment,
			want:     url.Values{"subject_token": {"st.jwt.sig"}, "state": {"st-1"}},
			location: authzCB + "#subject_token=st.jwt.sig&state=st-1",
		},
		{
			name: "fragment with id_token", mutate: authzWithIDToken, idToken: true, mode: store.ResponseModeFragment,
			want: url.Values{"subject_token": {"st.jwt.sig"}, "id_token": {"id.jwt.sig"}, "state": {"st-1"}},
		},
		{
			name: "fragment without state", mutate: func(v url.Values) { v.Del("state") }, mode: store.ResponseModeFragment,
			want: url.Values{"subject_token": {"st.jwt.sig"}},
		},
		{
			name: "fragment replaces a registered fragment", mutate: authzSet("redirect_uri", authzCBFrag),
			mode: store.ResponseModeFragment, base: "https://app.example.com/cb3",
			want:     url.Values{"subject_token": {"st.jwt.sig"}, "state": {"st-1"}},
			location: "https://app.example.com/cb3#subject_token=st.jwt.sig&state=st-1",
		},
		{
			name: "fragment escapes values", mutate: authzSet("state", "a b&c=d#e"), mode: store.ResponseModeFragment,
			want: url.Values{"subject_token": {"st.jwt.sig"}, "state": {"a b&c=d#e"}},
		},
		{
			name: "query", mutate: authzQueryMode(), mode: store.ResponseModeQuery,
			want:     url.Values{"subject_token": {"st.jwt.sig"}, "state": {"st-1"}},
			location: authzCB + "?subject_token=st.jwt.sig&state=st-1",
		},
		{
			name:    "query keeps the registered query",
			mutate:  authzQueryMode("redirect_uri", authzCBQuery, "response_type", "subject_token id_token", "nonce", "n"),
			idToken: true, mode: store.ResponseModeQuery, base: "https://app.example.com/cb2",
			want:     url.Values{"tenant": {"a"}, "subject_token": {"st.jwt.sig"}, "id_token": {"id.jwt.sig"}, "state": {"st-1"}},
			location: authzCBQuery + "&subject_token=st.jwt.sig&id_token=id.jwt.sig&state=st-1",
		},
		{
			name: "form_post", mutate: authzSet("response_mode", "form_post"), mode: store.ResponseModeFormPost,
			want: url.Values{"subject_token": {"st.jwt.sig"}, "state": {"st-1"}},
		},
		{
			name: "form_post with id_token", mutate: func(v url.Values) {
				authzWithIDToken(v)
				v.Set("response_mode", "form_post")
			}, idToken: true, mode: store.ResponseModeFormPost,
			want: url.Values{"subject_token": {"st.jwt.sig"}, "id_token": {"id.jwt.sig"}, "state": {"st-1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := authzRequest(t, tc.mutate)
			resp := subjecttoken.AuthorizeResponse{SubjectToken: "st.jwt.sig"}
			if tc.idToken {
				resp.IDToken = "id.jwt.sig"
			}

			rec := authzWriteResponse(req, &resp)
			authzRequireNoStore(t, rec)
			got := authzRead(t, rec)
			assert.Equal(t, tc.mode, got.mode)
			assert.Equal(t, cmp.Or(tc.base, authzCB), got.base)
			assert.Equal(t, tc.want, got.params)
			if tc.location != "" {
				assert.Equal(t, tc.location, rec.Header().Get("Location"))
			}
		})
	}
}

// TestRFC6749_3_1_2_QueryComponentRetained: the redirection endpoint's
// query component "MUST be retained when adding additional query
// parameters".
func TestRFC6749_3_1_2_QueryComponentRetained(t *testing.T) {
	t.Parallel()
	req := authzRequest(t, authzQueryMode("redirect_uri", authzCBQuery))

	loc := authzWriteResponse(req, &subjecttoken.AuthorizeResponse{SubjectToken: "tok"}).Header().Get("Location")
	assert.True(t, strings.HasPrefix(loc, authzCBQuery+"&"), loc)

	loc = authzWriteError(req.Redirect(subjecttoken.ErrAccessDenied)).Header().Get("Location")
	assert.Equal(t, authzCBQuery+"&error=access_denied&state=st-1", loc)
}

func TestWriteAuthorizeResponse_FormPostEscapesValues(t *testing.T) {
	t.Parallel()
	req := authzRequest(t, authzSet("response_mode", "form_post", "state", authzXSS))

	rec := authzWriteResponse(req, &subjecttoken.AuthorizeResponse{SubjectToken: authzXSS, IDToken: "a&b<c>'d"})
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.NotContains(t, body, "<script>alert(1)")
	assert.NotContains(t, body, `"><`)

	f := authzParseForm(t, body)
	assert.Equal(t, "post", f.method)
	assert.Equal(t, authzCB, f.action)
	assert.True(t, f.hiddenOnly)
	assert.Equal(t, url.Values{
		"subject_token": {authzXSS},
		"id_token":      {"a&b<c>'d"},
		"state":         {authzXSS},
	}, f.inputs)
}

func TestWriteAuthorizeResponse_FormPostPage(t *testing.T) {
	t.Parallel()
	req := authzRequest(t, authzSet("response_mode", "form_post"))
	nonceRE := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9+/=_-]+)'`)

	var nonces []string
	for range 2 {
		rec := authzWriteResponse(req, &subjecttoken.AuthorizeResponse{SubjectToken: "tok"})
		require.Equal(t, http.StatusOK, rec.Code)
		h := rec.Header()
		assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
		authzRequireNoStore(t, rec)
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
		assert.Empty(t, h.Get("Location"))

		csp := h.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'")
		assert.Contains(t, csp, "form-action https://app.example.com")
		assert.NotContains(t, csp, "unsafe-inline")
		m := nonceRE.FindStringSubmatch(csp)
		require.Len(t, m, 2, csp)

		f := authzParseForm(t, rec.Body.String())
		assert.Equal(t, m[1], f.scriptNonce)
		assert.True(t, f.noscriptSubmit)
		assert.Equal(t, url.Values{"subject_token": {"tok"}, "state": {"st-1"}}, f.inputs)
		nonces = append(nonces, m[1])
	}
	assert.NotEqual(t, nonces[0], nonces[1], "the CSP nonce must be fresh per response")
	assert.GreaterOrEqual(t, len(nonces[0]), 22, "the nonce must carry at least 128 bits")
}

func TestWriteAuthorizeResponse_InvalidArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  *subjecttoken.AuthorizeRequest
		resp *subjecttoken.AuthorizeResponse
	}{
		{name: "nil request", resp: &subjecttoken.AuthorizeResponse{SubjectToken: "tok"}},
		{name: "nil response", req: &subjecttoken.AuthorizeRequest{RedirectURI: authzCB}},
		{name: "no redirect URI", req: &subjecttoken.AuthorizeRequest{}, resp: &subjecttoken.AuthorizeResponse{SubjectToken: "tok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := authzWriteResponse(tc.req, tc.resp)
			assert.Equal(t, http.StatusInternalServerError, rec.Code)
			assert.Empty(t, rec.Header().Get("Location"))
			assert.NotContains(t, rec.Body.String(), "tok")
		})
	}
}

func TestWriteAuthorizeError_Redirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(url.Values)
		err    *subjecttoken.Error
		mode   string
		want   url.Values
	}{
		{
			name:   "fragment",
			mutate: authzSet(),
			err:    subjecttoken.ErrAccessDenied.WithDescription("impersonation not permitted"),
			mode:   store.ResponseModeFragment,
			want:   url.Values{"error": {"access_denied"}, "error_description": {"impersonation not permitted"}, "state": {"st-1"}},
		},
		{
			name:   "query",
			mutate: authzQueryMode(),
			err:    subjecttoken.ErrUnauthorizedClient.WithDescription("impersonation is not enabled"),
			mode:   store.ResponseModeQuery,
			want:   url.Values{"error": {"unauthorized_client"}, "error_description": {"impersonation is not enabled"}, "state": {"st-1"}},
		},
		{
			name:   "form_post",
			mutate: authzSet("response_mode", "form_post", "state", authzXSS),
			err:    subjecttoken.ErrAccessDenied.WithDescription(authzXSS),
			mode:   store.ResponseModeFormPost,
			want:   url.Values{"error": {"access_denied"}, "error_description": {`><script>alert(1)</script>`}, "state": {authzXSS}},
		},
		{
			name:   "no description, no state",
			mutate: func(v url.Values) { v.Del("state") },
			err:    subjecttoken.ErrTemporarilyUnavailable,
			mode:   store.ResponseModeFragment,
			want:   url.Values{"error": {"temporarily_unavailable"}},
		},
		{
			name:   "server_error keeps the cause out",
			mutate: authzSet(),
			err:    subjecttoken.ErrServerError.WithCause(errors.New("db: password authentication failed")),
			mode:   store.ResponseModeFragment,
			want:   url.Values{"error": {"server_error"}, "state": {"st-1"}},
		},
		{
			name:   "description outside the RFC 6749 character set",
			mutate: authzSet(),
			err:    subjecttoken.ErrAccessDenied.WithDescription("say \"no\"\\\nnow é"),
			mode:   store.ResponseModeFragment,
			want:   url.Values{"error": {"access_denied"}, "error_description": {"say  no   now"}, "state": {"st-1"}},
		},
		{
			name:   "hand-made code outside the character set",
			mutate: authzSet(),
			err:    &subjecttoken.Error{Code: "bad code\"", Description: "x"},
			mode:   store.ResponseModeFragment,
			want:   url.Values{"error": {"server_error"}, "error_description": {"x"}, "state": {"st-1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := authzWriteError(authzRequest(t, tc.mutate).Redirect(tc.err))
			authzRequireNoStore(t, rec)
			got := authzRead(t, rec)
			assert.Equal(t, tc.mode, got.mode)
			assert.Equal(t, authzCB, got.base)
			assert.Equal(t, tc.want, got.params)
			assert.NotContains(t, rec.Body.String(), "password")
			assert.NotContains(t, rec.Header().Get("Location"), "password")
		})
	}
}

func TestWriteAuthorizeError_NotRedirectable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{name: "invalid_request", err: subjecttoken.ErrInvalidRequest.WithDescription("redirect_uri is missing"),
			status: http.StatusBadRequest, body: "invalid_request: redirect_uri is missing\n"},
		{name: "unbound access_denied", err: subjecttoken.ErrAccessDenied,
			status: http.StatusBadRequest, body: "access_denied\n"},
		{name: "server_error", err: subjecttoken.ErrServerError.WithCause(errors.New("secret internal detail")),
			status: http.StatusInternalServerError, body: "server_error\n"},
		{name: "temporarily_unavailable", err: subjecttoken.ErrTemporarilyUnavailable,
			status: http.StatusServiceUnavailable, body: "temporarily_unavailable\n"},
		{name: "wrapped *Error", err: fmt.Errorf("host: %w", subjecttoken.ErrInvalidScope.WithDescription("d")),
			status: http.StatusBadRequest, body: "invalid_scope: d\n"},
		{name: "plain error", err: errors.New("secret internal detail"),
			status: http.StatusInternalServerError, body: "server_error\n"},
		{name: "nil error", err: nil,
			status: http.StatusInternalServerError, body: "server_error\n"},
		{name: "typed nil *Error", err: (*subjecttoken.Error)(nil),
			status: http.StatusInternalServerError, body: "server_error\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := authzWriteError(tc.err)
			authzAssertPage(t, rec, tc.status)
			assert.Equal(t, tc.body, rec.Body.String())
		})
	}
}
