package tokenexchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

// decodeError decodes an RFC 6749 §5.2 error body into a map, so that tests
// see exactly which members were sent.
func decodeError(t testing.TB, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	var m map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), "body: %s", rec.Body.String())
	return m
}

// writeError returns what WriteError writes for err.
func writeError(err error) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	WriteError(rec, err)
	return rec
}

func TestErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "code only", err: ErrInvalidGrant, want: "tokenexchange: invalid_grant"},
		{name: "with description", err: ErrInvalidScope.WithDescription("too wide"), want: "tokenexchange: invalid_scope: too wide"},
		{name: "cause included, as subjecttoken.Error does", err: ErrServerError.WithCause(errors.New("db down")), want: "tokenexchange: server_error: db down"},
		{name: "description and cause", err: ErrServerError.WithDescription("try later").WithCause(errors.New("db down")), want: "tokenexchange: server_error: try later: db down"},
		{name: "nil", err: nil, want: "tokenexchange: <nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{name: "refined matches sentinel", err: ErrInvalidRequest.WithDescription("x"), target: ErrInvalidRequest, want: true},
		{name: "different code", err: ErrInvalidRequest.WithDescription("x"), target: ErrInvalidGrant, want: false},
		{name: "wrapped", err: fmt.Errorf("ctx: %w", ErrInvalidGrant.WithDescription("expired")), target: ErrInvalidGrant, want: true},
		{name: "cause reachable", err: ErrInvalidClient.WithCause(cause), target: cause, want: true},
		{name: "hand-built same code", err: &Error{Code: codeInvalidTarget}, target: ErrInvalidTarget, want: true},
		{name: "not an Error target", err: ErrInvalidGrant, target: errors.New("invalid_grant"), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errors.Is(tc.err, tc.target))
		})
	}
}

func TestErrorRefinementsDoNotMutateSentinels(t *testing.T) {
	t.Parallel()
	sentinels := []*Error{
		ErrInvalidRequest, ErrInvalidClient, ErrInvalidGrant, ErrUnauthorizedClient,
		ErrUnsupportedGrantType, ErrInvalidScope, ErrInvalidTarget, ErrServerError,
		ErrTemporarilyUnavailable,
	}
	for _, s := range sentinels {
		t.Run(s.Code, func(t *testing.T) {
			t.Parallel()
			cause := errors.New("cause")
			d := s.WithDescription("described")
			u := s.WithURI("https://example.com/err")
			c := s.WithCause(cause)
			dc := d.WithCause(cause)

			assert.Equal(t, &Error{Code: s.Code}, s, "sentinel was modified")
			assert.NotSame(t, s, d)
			assert.NotSame(t, s, c)
			assert.Equal(t, "described", d.Description)
			assert.Equal(t, "https://example.com/err", u.URI)
			assert.Empty(t, u.Description)
			assert.Same(t, cause, errors.Unwrap(c))
			assert.Nil(t, errors.Unwrap(d))
			assert.Equal(t, "described", dc.Description, "WithCause keeps the description")
			assert.Same(t, cause, errors.Unwrap(dc))
			assert.Nil(t, errors.Unwrap(s))
		})
	}
}

func TestErrorStatusCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want int
	}{
		{name: "invalid_request", err: ErrInvalidRequest, want: http.StatusBadRequest},
		{name: "invalid_client", err: ErrInvalidClient, want: http.StatusUnauthorized},
		{name: "invalid_grant", err: ErrInvalidGrant, want: http.StatusBadRequest},
		{name: "unauthorized_client", err: ErrUnauthorizedClient, want: http.StatusBadRequest},
		{name: "unsupported_grant_type", err: ErrUnsupportedGrantType, want: http.StatusBadRequest},
		{name: "invalid_scope", err: ErrInvalidScope, want: http.StatusBadRequest},
		{name: "invalid_target", err: ErrInvalidTarget, want: http.StatusBadRequest},
		{name: "server_error", err: ErrServerError, want: http.StatusInternalServerError},
		{name: "temporarily_unavailable", err: ErrTemporarilyUnavailable, want: http.StatusServiceUnavailable},
		{name: "extension code", err: &Error{Code: "access_denied"}, want: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.StatusCode())
		})
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   map[string]string
	}{
		{
			name:       "sentinel",
			err:        ErrInvalidGrant,
			wantStatus: http.StatusBadRequest,
			wantBody:   map[string]string{"error": "invalid_grant"},
		},
		{
			name:       "description and uri",
			err:        ErrInvalidScope.WithDescription("scope too wide").WithURI("https://example.com/scopes"),
			wantStatus: http.StatusBadRequest,
			wantBody: map[string]string{
				"error":             "invalid_scope",
				"error_description": "scope too wide",
				"error_uri":         "https://example.com/scopes",
			},
		},
		{
			name:       "wrapped Error is found",
			err:        fmt.Errorf("exchange: %w", ErrInvalidTarget.WithDescription("unknown audience")),
			wantStatus: http.StatusBadRequest,
			wantBody:   map[string]string{"error": "invalid_target", "error_description": "unknown audience"},
		},
		{
			name:       "cause is not sent",
			err:        ErrInvalidGrant.WithDescription("bad token").WithCause(errors.New("secret internal detail")),
			wantStatus: http.StatusBadRequest,
			wantBody:   map[string]string{"error": "invalid_grant", "error_description": "bad token"},
		},
		{
			name:       "plain error becomes server_error",
			err:        errors.New("pq: connection refused to 10.0.0.7"),
			wantStatus: http.StatusInternalServerError,
			wantBody:   map[string]string{"error": "server_error", "error_description": "internal error"},
		},
		{
			name:       "nil error becomes server_error",
			err:        nil,
			wantStatus: http.StatusInternalServerError,
			wantBody:   map[string]string{"error": "server_error", "error_description": "internal error"},
		},
		{
			name:       "empty code becomes server_error",
			err:        &Error{Description: "leaky"},
			wantStatus: http.StatusInternalServerError,
			wantBody:   map[string]string{"error": "server_error", "error_description": "internal error"},
		},
		{
			name:       "temporarily_unavailable",
			err:        ErrTemporarilyUnavailable,
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   map[string]string{"error": "temporarily_unavailable"},
		},
		{
			name:       "invalid_client is 401",
			err:        ErrInvalidClient,
			wantStatus: http.StatusUnauthorized,
			wantBody:   map[string]string{"error": "invalid_client"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := writeError(tc.err)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assertNoStoreJSON(t, rec)
			assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
			assert.Equal(t, tc.wantBody, decodeError(t, rec))
		})
	}
}

// RFC 6749 §5.2: error_description and error MUST NOT include characters
// outside %x20-21 / %x23-5B / %x5D-7E; error_uri MUST NOT include characters
// outside %x21 / %x23-5B / %x5D-7E.
func TestRFC6749_5_2_ErrorMembersCharacterSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      *Error
		wantBody map[string]string
	}{
		{
			name:     "quotes backslashes and non-ASCII dropped from description",
			err:      ErrInvalidRequest.WithDescription("bad \"x\"\\ \n\tcafé"),
			wantBody: map[string]string{"error": "invalid_request", "error_description": "bad x caf"},
		},
		{
			name:     "uri with a space dropped",
			err:      ErrInvalidRequest.WithURI("https://example.com/a b"),
			wantBody: map[string]string{"error": "invalid_request"},
		},
		{
			name:     "code with a quote becomes server_error",
			err:      &Error{Code: `bad"code`},
			wantBody: map[string]string{"error": "server_error", "error_description": "internal error"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := writeError(tc.err)
			assert.Equal(t, tc.wantBody, decodeError(t, rec))
		})
	}
}

// RFC 6749 §5.1: the response MUST carry Cache-Control: no-store and
// Pragma: no-cache, and is JSON.
func TestRFC6749_5_1_WriteResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		resp       *Response
		wantStatus int
		wantBody   string
	}{
		{
			name: "all members",
			resp: &Response{
				AccessToken:     "at",
				IssuedTokenType: TokenTypeAccessToken,
				TokenType:       BearerTokenType,
				ExpiresIn:       300,
				Scope:           claims.Scope{"openid", "profile"},
				RefreshToken:    "rt",
			},
			wantStatus: http.StatusOK,
			wantBody: `{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
				"token_type":"Bearer","expires_in":300,"scope":"openid profile","refresh_token":"rt"}`,
		},
		{
			name:       "optional members omitted",
			resp:       &Response{AccessToken: "at", IssuedTokenType: TokenTypeJWT, TokenType: NotApplicableTokenType},
			wantStatus: http.StatusOK,
			wantBody:   `{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:jwt","token_type":"N_A"}`,
		},
		{
			name:       "nil response is server_error",
			resp:       nil,
			wantStatus: http.StatusInternalServerError,
			wantBody:   `{"error":"server_error","error_description":"internal error"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteResponse(rec, tc.resp)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assertNoStoreJSON(t, rec)
			assert.JSONEq(t, tc.wantBody, rec.Body.String())
		})
	}
}
