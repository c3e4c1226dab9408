package tokenexchange

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/actas/actas/claims"
)

// Client authentication methods, named as in the OAuth Token Endpoint
// Authentication Methods registry of RFC 7591 §2
// (https://www.rfc-editor.org/rfc/rfc7591#section-2).
const (
	// AuthMethodBasic is HTTP Basic authentication with the form-encoded
	// client_id and client_secret (RFC 6749 §2.3.1).
	AuthMethodBasic = "client_secret_basic"
	// AuthMethodPost is client_id and client_secret in the request body
	// (RFC 6749 §2.3.1).
	AuthMethodPost = "client_secret_post"
)

// Client is the client an endpoint authenticated, as the token endpoint ([NewHandler]) hands it
// to the [Exchanger], the introspection endpoint to the [Introspector] and
// the revocation endpoint to the [Revoker].
type Client struct {
	// ID is the authenticated client_id.
	ID string
	// AuthMethod is how the client authenticated: [AuthMethodBasic] or
	// [AuthMethodPost].
	AuthMethod string
}

// ClientAuthenticator checks client credentials at the token endpoint (RFC
// 6749 §2.3.1, https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1) and at
// the introspection and revocation endpoints, which authenticate clients the
// same way (RFC 7662 §2.1, RFC 7009 §2.1). Implementations must be safe for
// concurrent use and should compare secrets in constant time.
type ClientAuthenticator interface {
	// AuthenticateClient checks the secret of clientID. nil means
	// authenticated. Any error means invalid_client, except an [*Error]
	// (found with [errors.As]) with code temporarily_unavailable or
	// server_error, which is passed through (the store is down, not the
	// client wrong). The client learns only "client authentication failed",
	// so an implementation need not hide whether the client or the secret
	// was wrong; the error reaches the [WithErrorObserver] function.
	AuthenticateClient(ctx context.Context, clientID, secret string) error
}

// Exchanger decides a token exchange (RFC 8693 §2,
// https://www.rfc-editor.org/rfc/rfc8693#section-2): it verifies the subject
// and actor tokens, applies policy and issues the new token. Implementations
// must be safe for concurrent use.
type Exchanger interface {
	// Exchange performs the exchange for an authenticated client and a
	// syntactically valid request (as [ParseForm] returns it). An error that
	// is (errors.As) an [*Error] is sent as is; any other error becomes
	// server_error (500) with a generic description. A nil error must come
	// with a [Response] that has AccessToken, IssuedTokenType and TokenType
	// set; otherwise the client gets server_error. Exchange must not modify
	// req after returning.
	Exchange(ctx context.Context, client Client, req *Request) (*Response, error)
}

// Grant types besides token exchange that a token endpoint may serve
// through [WithGrant].
const (
	GrantTypeAuthorizationCode = "authorization_code"
	GrantTypeRefreshToken      = "refresh_token"
)

// GrantHandler serves one more grant type at the token endpoint (see
// [WithGrant]): it gets the authenticated client and the request, already
// checked for repetition, and returns the response or an error, as an
// [Exchanger] does.
type GrantHandler interface {
	Grant(ctx context.Context, client Client, req *GrantRequest) (*Response, error)
}

// GrantRequest is a token request of a grant type served through
// [WithGrant]: the parameters of RFC 6749 §4.1.3, §6 and RFC 7636 §4.5
// decoded, empty when absent; none of them repeated.
type GrantRequest struct {
	GrantType string
	// Scope is the scope parameter (RFC 6749 §3.3).
	Scope claims.Scope
	// RefreshToken is the refresh_token of the refresh grant (RFC 6749 §6).
	RefreshToken string
	// Code, RedirectURI and CodeVerifier are the authorization-code
	// grant's (RFC 6749 §4.1.3, RFC 7636 §4.5).
	Code, RedirectURI, CodeVerifier string
	// Form holds every parameter of the request, for grants that need
	// others.
	Form url.Values
}

func grantRequest(form url.Values) *GrantRequest {
	return &GrantRequest{
		GrantType:    form.Get(paramGrantType),
		Scope:        claims.ParseScope(form.Get("scope")),
		RefreshToken: form.Get("refresh_token"),
		Code:         form.Get("code"),
		RedirectURI:  form.Get("redirect_uri"),
		CodeVerifier: form.Get("code_verifier"),
		Form:         form,
	}
}

// WithGrant makes [NewHandler]'s token endpoint serve grantType with h, so
// that one endpoint answers token exchange and, say, the
// authorization-code and refresh-token grants of the host. The request
// goes through the same checks (POST, form, cap, one client
// authentication); parameters other than resource and audience may not
// repeat. Token exchange itself cannot be replaced. Only [NewHandler]
// takes it: the introspection and revocation constructors refuse it.
func WithGrant(grantType string, h GrantHandler) Option {
	return func(c *handlerConfig) {
		if c.grants == nil {
			c.grants = map[string]GrantHandler{}
		}
		c.grants[grantType] = h
	}
}

// tokenHandler is the endpoint NewHandler returns.
type tokenHandler struct {
	pipe pipeline
	ex   Exchanger
}

var _ http.Handler = (*tokenHandler)(nil)

// NewHandler returns the token endpoint that authenticates clients with auth
// and performs exchanges with ex. It returns an error if auth or ex is nil
// or an option is invalid.
//
// The endpoint is the token endpoint for token exchange (RFC 8693 §2,
// https://www.rfc-editor.org/rfc/rfc8693#section-2), an [http.Handler] to
// mount on the host's mux for POST. It parses and validates the request,
// authenticates the client, calls the [Exchanger] and writes the response or
// the error; the package documentation lists the checks in order. The
// handler is safe for concurrent use.
func NewHandler(auth ClientAuthenticator, ex Exchanger, opts ...Option) (http.Handler, error) {
	if auth == nil {
		return nil, errNilAuthenticator
	}
	if ex == nil {
		return nil, errors.New("tokenexchange: nil Exchanger")
	}
	single := singleParams()
	known := knownParams()
	pipe, err := newPipeline("token", auth, known[:], append(single[:], paramClientID, paramClientSecret,
		"code", "redirect_uri", "code_verifier", "refresh_token"), opts)
	if err != nil {
		return nil, err
	}
	for gt, g := range pipe.grants {
		if gt == GrantType || gt == "" || g == nil {
			return nil, errors.New("tokenexchange: WithGrant needs a grant type other than token exchange and a handler")
		}
	}
	return &tokenHandler{pipe: pipe, ex: ex}, nil
}

// WithFallback makes [NewHandler]'s token endpoint hand every request that
// is not its own to host, the host's own token endpoint, with the request
// as it came (method, headers and the whole body, re-readable): a request
// is the endpoint's when it is a POST form whose grant_type is token
// exchange or one of WithGrant's. The endpoint's own requests keep every
// check and refusal record; the host's get none of them, and are the
// host's to check and record. Only [NewHandler] takes it.
func WithFallback(host http.Handler) Option {
	return func(c *handlerConfig) { c.fallback = host }
}

// forHost reports whether r is not the endpoint's but the fallback's, and
// returns r with its body restored for whoever serves it. It reads at most
// the body cap (plus a byte) to tell.
func (h *tokenHandler) forHost(r *http.Request) (bool, *http.Request) {
	if r.Method != http.MethodPost {
		return true, r
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formContentType {
		return true, r
	}
	if r.Body == nil {
		return true, r
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, h.pipe.maxBodyBytes+1))
	r2 := r.Clone(r.Context())
	r2.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	if err != nil {
		return false, r2 // the endpoint reads again, and refuses
	}
	if int64(len(b)) > h.pipe.maxBodyBytes {
		return true, r2 // larger than any request of the endpoint
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return true, r2
	}
	for _, gt := range form[paramGrantType] {
		if _, ok := h.pipe.grants[gt]; ok || gt == GrantType {
			return false, r2
		}
	}
	return true, r2
}

// ServeHTTP handles one token request.
func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.pipe.fallback != nil {
		var host bool
		if host, r = h.forHost(r); host {
			h.pipe.fallback.ServeHTTP(w, r)
			return
		}
	}
	// serve enforces POST (RFC 6749 §3.2, RFC 8693 §2.1), the form, the
	// body cap and client authentication, and refuses on its own.
	h.pipe.serve(w, r, func(client Client, form url.Values) error {
		resp, err := h.answer(r.Context(), client, form)
		if err != nil {
			return err
		}
		WriteResponse(w, resp)
		return nil
	})
}

// answer decides the token request of client: the grant handler of its
// grant type if WithGrant registered one, the Exchanger otherwise.
func (h *tokenHandler) answer(ctx context.Context, client Client, form url.Values) (*Response, error) {
	if g, ok := h.pipe.grants[form.Get(paramGrantType)]; ok {
		resp, err := g.Grant(ctx, client, grantRequest(form))
		if err == nil {
			err = resp.checkGrant()
		}
		return resp, err
	}
	req, err := parseForm(form)
	if err != nil {
		return nil, err
	}
	resp, err := h.ex.Exchange(ctx, client, req)
	if err != nil {
		return nil, err
	}
	if err := resp.check(); err != nil {
		return nil, ErrServerError.WithDescription(internalErrorDescription).WithCause(err)
	}
	return resp, nil
}
