package tokenexchange

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

// validForm returns a minimal valid token exchange form with the given
// parameters set on top (an empty value deletes the parameter).
func validForm(set ...string) url.Values {
	f := url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {"subject.jwt"},
		"subject_token_type": {TokenTypeJWT},
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			f.Del(set[i])
			continue
		}
		f.Set(set[i], set[i+1])
	}
	return f
}

func TestParseForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		form url.Values
		want *Request
	}{
		{
			name: "minimal",
			form: validForm(),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT},
		},
		{
			name: "all parameters",
			form: url.Values{
				"grant_type":           {GrantType},
				"subject_token":        {"subject.jwt"},
				"subject_token_type":   {TokenTypeJWT},
				"actor_token":          {"actor.jwt"},
				"actor_token_type":     {TokenTypeIDToken},
				"resource":             {"https://api.example.com/v1?x=1", "urn:example:api"},
				"audience":             {"billing", "orders"},
				"scope":                {"openid  profile openid"},
				"requested_token_type": {TokenTypeAccessToken},
			},
			want: &Request{
				GrantType:          GrantType,
				SubjectToken:       "subject.jwt",
				SubjectTokenType:   TokenTypeJWT,
				ActorToken:         "actor.jwt",
				ActorTokenType:     TokenTypeIDToken,
				Resource:           []string{"https://api.example.com/v1?x=1", "urn:example:api"},
				Audience:           []string{"billing", "orders"},
				Scope:              claims.Scope{"openid", "profile"},
				RequestedTokenType: TokenTypeAccessToken,
			},
		},
		{
			name: "client credentials and unknown parameters ignored",
			form: validForm("client_id", "app", "client_secret", "s3cr3t", "foo", "bar"),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT},
		},
		{
			name: "repeated unknown parameter ignored",
			form: func() url.Values { f := validForm(); f["foo"] = []string{"a", "b"}; return f }(),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseForm(tc.form)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseFormRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		form     url.Values
		wantErr  *Error
		wantDesc string
	}{
		{name: "grant_type missing", form: validForm("grant_type", ""), wantErr: ErrInvalidRequest, wantDesc: "grant_type is required"},
		{name: "grant_type other", form: validForm("grant_type", "client_credentials"), wantErr: ErrUnsupportedGrantType, wantDesc: "grant_type must be " + GrantType},
		{name: "subject_token missing", form: validForm("subject_token", ""), wantErr: ErrInvalidRequest, wantDesc: "subject_token is required"},
		{name: "subject_token_type missing", form: validForm("subject_token_type", ""), wantErr: ErrInvalidRequest, wantDesc: "subject_token_type is required"},
		{name: "subject_token_type relative", form: validForm("subject_token_type", "jwt"), wantErr: ErrInvalidRequest, wantDesc: "subject_token_type must be an absolute URI"},
		{name: "subject_token_type unparsable", form: validForm("subject_token_type", "urn:x\x01"), wantErr: ErrInvalidRequest, wantDesc: "subject_token_type must be an absolute URI"},
		{name: "actor_token_type relative", form: validForm("actor_token", "a", "actor_token_type", "id_token"), wantErr: ErrInvalidRequest, wantDesc: "actor_token_type must be an absolute URI"},
		{name: "requested_token_type relative", form: validForm("requested_token_type", "/jwt"), wantErr: ErrInvalidRequest, wantDesc: "requested_token_type must be an absolute URI"},
		{name: "resource relative", form: validForm("resource", "/api"), wantErr: ErrInvalidTarget, wantDesc: "resource must be an absolute URI without a fragment"},
		{name: "scope with a quote", form: validForm("scope", `openid "x"`), wantErr: ErrInvalidScope, wantDesc: "scope holds a character that is not allowed"},
		{name: "scope with a tab", form: validForm("scope", "openid\tprofile"), wantErr: ErrInvalidScope, wantDesc: "scope holds a character that is not allowed"},
		{name: "nil form", form: nil, wantErr: ErrInvalidRequest, wantDesc: "grant_type is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseForm(tc.form)
			require.ErrorIs(t, err, tc.wantErr)
			assert.Nil(t, got)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.wantDesc, e.Description)
		})
	}
}

// RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
func TestRFC8693_2_1_SubjectTokenAndTypeRequired(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"subject_token", "subject_token_type"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseForm(validForm(name, ""))
			require.ErrorIs(t, err, ErrInvalidRequest)
		})
	}
}

// RFC 8693 §2.1: actor_token_type is REQUIRED when actor_token is present
// and MUST NOT be included otherwise.
func TestRFC8693_2_1_ActorTokenTypeIfAndOnlyIfActorToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		form    url.Values
		wantErr error
	}{
		{name: "both", form: validForm("actor_token", "a", "actor_token_type", TokenTypeIDToken)},
		{name: "neither", form: validForm()},
		{name: "token without type", form: validForm("actor_token", "a"), wantErr: ErrInvalidRequest},
		{name: "type without token", form: validForm("actor_token_type", TokenTypeIDToken), wantErr: ErrInvalidRequest},
		{name: "type with empty token", form: validForm("actor_token_type", TokenTypeIDToken, "actor_token", ""), wantErr: ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseForm(tc.form)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

// RFC 8693 §2.1: resource MUST be an absolute URI and MUST NOT include a
// fragment; refused with invalid_target (RFC 8707 §2).
func TestRFC8693_2_1_ResourceAbsoluteWithoutFragment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resource []string
		wantErr  error
	}{
		{name: "https", resource: []string{"https://api.example.com/v1"}},
		{name: "with query", resource: []string{"https://api.example.com/v1?tenant=a"}},
		{name: "urn", resource: []string{"urn:example:api"}},
		{name: "relative path", resource: []string{"/v1"}, wantErr: ErrInvalidTarget},
		{name: "host only", resource: []string{"api.example.com"}, wantErr: ErrInvalidTarget},
		{name: "fragment", resource: []string{"https://api.example.com/v1#frag"}, wantErr: ErrInvalidTarget},
		{name: "empty fragment", resource: []string{"https://api.example.com/v1#"}, wantErr: ErrInvalidTarget},
		{name: "second one bad", resource: []string{"https://a.example.com", "b"}, wantErr: ErrInvalidTarget},
		{name: "unparsable", resource: []string{"https://a.example.com/%zz"}, wantErr: ErrInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := validForm()
			f["resource"] = tc.resource
			got, err := ParseForm(f)
			if tc.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.resource, got.Resource)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

// RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if
// they were omitted from the request."
func TestRFC6749_3_2_EmptyParametersTreatedAsOmitted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		form    url.Values
		want    *Request
		wantErr error
	}{
		{
			name: "empty optional parameters",
			form: func() url.Values {
				f := validForm()
				for _, p := range []string{"actor_token", "actor_token_type", "scope", "requested_token_type", "resource", "audience"} {
					f[p] = []string{""}
				}
				return f
			}(),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT},
		},
		{
			name: "empty repeats of a single parameter",
			form: func() url.Values { f := validForm(); f["scope"] = []string{"", "openid", ""}; return f }(),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT, Scope: claims.Scope{"openid"}},
		},
		{
			name: "empty audience values dropped",
			form: func() url.Values { f := validForm(); f["audience"] = []string{"", "a", ""}; return f }(),
			want: &Request{GrantType: GrantType, SubjectToken: "subject.jwt", SubjectTokenType: TokenTypeJWT, Audience: []string{"a"}},
		},
		{
			name:    "empty subject_token is missing",
			form:    func() url.Values { f := validForm(); f["subject_token"] = []string{""}; return f }(),
			wantErr: ErrInvalidRequest,
		},
		{
			name:    "empty grant_type is missing",
			form:    func() url.Values { f := validForm(); f["grant_type"] = []string{""}; return f }(),
			wantErr: ErrInvalidRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseForm(tc.form)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// RFC 6749 §3.2: "Request and response parameters MUST NOT be included more
// than once"; RFC 8693 §2.1 lets resource and audience repeat.
func TestRFC6749_3_2_ParametersNotRepeated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		param    string
		wantDesc string // empty: repetition is allowed
	}{
		{name: "grant_type", param: "grant_type", wantDesc: "parameter given more than once: grant_type"},
		{name: "subject_token", param: "subject_token", wantDesc: "parameter given more than once: subject_token"},
		{name: "subject_token_type", param: "subject_token_type", wantDesc: "parameter given more than once: subject_token_type"},
		{name: "actor_token", param: "actor_token", wantDesc: "parameter given more than once: actor_token"},
		{name: "actor_token_type", param: "actor_token_type", wantDesc: "parameter given more than once: actor_token_type"},
		{name: "scope", param: "scope", wantDesc: "parameter given more than once: scope"},
		{name: "requested_token_type", param: "requested_token_type", wantDesc: "parameter given more than once: requested_token_type"},
		{name: "resource may repeat", param: "resource"},
		{name: "audience may repeat", param: "audience"},
	}
	values := map[string]string{
		"grant_type": GrantType, "subject_token": "s", "subject_token_type": TokenTypeJWT,
		"actor_token": "a", "actor_token_type": TokenTypeIDToken, "scope": "openid",
		"requested_token_type": TokenTypeAccessToken, "resource": "https://api.example.com", "audience": "api",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := validForm("actor_token", "a", "actor_token_type", TokenTypeIDToken)
			f[tc.param] = []string{values[tc.param], values[tc.param]}
			_, err := ParseForm(f)
			if tc.wantDesc == "" {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, codeInvalidRequest, e.Code)
			assert.Equal(t, tc.wantDesc, e.Description)
		})
	}
}

func TestRequestValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  *Request
		want url.Values
	}{
		{
			name: "zero grant type becomes token exchange",
			req:  &Request{SubjectToken: "s", SubjectTokenType: TokenTypeJWT},
			want: url.Values{"grant_type": {GrantType}, "subject_token": {"s"}, "subject_token_type": {TokenTypeJWT}},
		},
		{
			name: "all fields",
			req: &Request{
				GrantType:          GrantType,
				SubjectToken:       "s",
				SubjectTokenType:   TokenTypeJWT,
				ActorToken:         "a",
				ActorTokenType:     TokenTypeIDToken,
				Resource:           []string{"https://a.example.com", "", "https://b.example.com"},
				Audience:           []string{"x", "y"},
				Scope:              claims.Scope{"openid", "profile"},
				RequestedTokenType: TokenTypeAccessToken,
			},
			want: url.Values{
				"grant_type":           {GrantType},
				"subject_token":        {"s"},
				"subject_token_type":   {TokenTypeJWT},
				"actor_token":          {"a"},
				"actor_token_type":     {TokenTypeIDToken},
				"resource":             {"https://a.example.com", "https://b.example.com"},
				"audience":             {"x", "y"},
				"scope":                {"openid profile"},
				"requested_token_type": {TokenTypeAccessToken},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.req.Values()
			assert.Equal(t, tc.want, got)

			back, err := ParseForm(got)
			require.NoError(t, err, "Values must produce a form ParseForm accepts")
			assert.Equal(t, tc.req.SubjectToken, back.SubjectToken)
			assert.Equal(t, tc.req.Scope, back.Scope)
		})
	}
}

func TestParseFormTooManyScopes(t *testing.T) {
	t.Parallel()
	form := url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {"st"},
		"subject_token_type": {TokenTypeJWT},
	}
	scopes := make([]string, claims.MaxScopeTokens+1)
	for i := range scopes {
		scopes[i] = "s" + strconv.Itoa(i)
	}
	form.Set("scope", strings.Join(scopes, " "))
	_, err := ParseForm(form)
	require.ErrorIs(t, err, ErrInvalidScope)

	form.Set("scope", strings.Join(scopes[:claims.MaxScopeTokens], " "))
	_, err = ParseForm(form)
	assert.NoError(t, err)
}
