package wire_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/wire"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header []string
		want   string
		wantOK bool
	}{
		{name: "none"},
		{name: "bearer", header: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi", wantOK: true},
		{name: "scheme is case-insensitive", header: []string{"bEaReR abc"}, want: "abc", wantOK: true},
		{name: "surrounding space trimmed", header: []string{"Bearer  abc "}, want: "abc", wantOK: true},
		{name: "empty token", header: []string{"Bearer "}},
		{name: "no token at all", header: []string{"Bearer"}},
		{name: "another scheme", header: []string{"Basic YWxpY2U6c2VjcmV0"}},
		{name: "two headers", header: []string{"Bearer abc", "Bearer abc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tc.header {
				r.Header.Add("Authorization", h)
			}
			got, ok := wire.BearerToken(r)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestRFC6750_3_BearerErrors: the challenge carries the error, its
// description and the scope; a request without credentials gets the bare
// challenge and no error information (§3.1).
func TestRFC6750_3_BearerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		code, scope   string
		wantChallenge string
	}{
		{name: "no credentials", status: http.StatusUnauthorized,
			wantChallenge: `Bearer realm="userinfo"`},
		{name: "invalid_token", status: http.StatusUnauthorized, code: "invalid_token",
			wantChallenge: `Bearer realm="userinfo", error="invalid_token", error_description="the \"token\" is bad"`},
		{name: "insufficient_scope names the scope", status: http.StatusForbidden, code: "insufficient_scope", scope: "openid profile",
			wantChallenge: `Bearer realm="userinfo", error="insufficient_scope", error_description="the \"token\" is bad", scope="openid profile"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			wire.WriteBearerError(w, tc.status, "userinfo", tc.code, `the "token" is bad`, tc.scope)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.wantChallenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			if tc.code == "" {
				assert.Empty(t, w.Body.String())
				return
			}
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			assert.Equal(t, map[string]string{"error": tc.code, "error_description": `the "token" is bad`}, body)
		})
	}
}

func TestReadForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		nilBody    bool
		want       url.Values
		wantErr    string
		malformed  bool
	}{
		{name: "a form, the query not merged in", body: "a=1&b=2", want: url.Values{"a": {"1"}, "b": {"2"}}},
		{name: "no body", nilBody: true, want: url.Values{}},
		{name: "one byte over the cap", body: "a=" + strings.Repeat("x", 9), wantErr: "request body too large"},
		{name: "not a form", body: "a=%zz", wantErr: "malformed request body", malformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/x?q=1", strings.NewReader(tc.body))
			if tc.nilBody {
				r.Body = nil
			}
			got, fe := wire.ReadForm(httptest.NewRecorder(), r, 10)
			if tc.wantErr == "" {
				require.Nil(t, fe)
				assert.Equal(t, tc.want, got)
				return
			}
			require.NotNil(t, fe)
			assert.Nil(t, got)
			assert.Equal(t, tc.wantErr, fe.Description)
			assert.Equal(t, tc.malformed, fe.Malformed)
			assert.Error(t, fe.Cause)
		})
	}
}
