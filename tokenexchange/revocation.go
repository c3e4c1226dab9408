package tokenexchange

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Values of token_type_hint defined by RFC 7009 §2.1
// (https://www.rfc-editor.org/rfc/rfc7009#section-2.1) and used by RFC 7662
// §2.1 as well. They are hints, not token type identifiers: the handlers
// pass any value through, and a server may ignore it.
const (
	// TokenTypeHintAccessToken hints that the token is an access token.
	TokenTypeHintAccessToken = "access_token"
	// TokenTypeHintRefreshToken hints that the token is a refresh token.
	TokenTypeHintRefreshToken = "refresh_token"
)

// Form parameter names of the introspection and revocation requests (RFC
// 7662 §2.1, RFC 7009 §2.1).
const (
	paramToken         = "token"
	paramTokenTypeHint = "token_type_hint"
)

// tokenParams returns the parameters the introspection and revocation
// endpoints understand, client credentials included. Each may appear at
// most once (RFC 6749 §3.2) and none in the URL query. It returns a new
// slice on every call so that the list cannot be modified.
func tokenParams() []string {
	return []string{paramToken, paramTokenTypeHint, paramClientID, paramClientSecret}
}

// tokenParam returns the token and token_type_hint parameters of an
// introspection or revocation request whose form went through dropEmpty. A
// missing token is invalid_request (RFC 7662 §2.1, RFC 7009 §2.1: REQUIRED);
// the hint is optional and never checked.
func tokenParam(form url.Values) (token, hint string, err error) {
	token = form.Get(paramToken)
	if token == "" {
		return "", "", ErrInvalidRequest.WithDescription("token is required")
	}
	return token, form.Get(paramTokenTypeHint), nil
}

// Revoker revokes a token for an authenticated client (RFC 7009 §2.1,
// https://www.rfc-editor.org/rfc/rfc7009#section-2.1). Implementations must
// be safe for concurrent use.
type Revoker interface {
	// Revoke revokes token for client, and may revoke the tokens of the
	// same grant with it as RFC 7009 §2.1 describes. tokenTypeHint is the
	// token_type_hint parameter as sent, empty when absent:
	// [TokenTypeHintAccessToken], [TokenTypeHintRefreshToken] or anything
	// else, which the Revoker may ignore. An invalid or unknown token is NOT an error: Revoke returns
	// nil and the endpoint answers 200 (RFC 7009 §2.2). An error that is
	// (errors.As) an [*Error] is sent as is: for example
	// [ErrUnauthorizedClient] when the token was issued to another client,
	// [ErrUnsupportedTokenType], or [ErrTemporarilyUnavailable]. Any other
	// error becomes server_error with a generic description.
	Revoke(ctx context.Context, client Client, token, tokenTypeHint string) error
}

// NewRevocationHandler returns the revocation endpoint that authenticates
// clients with auth and revokes with rv. It takes the same options as
// [NewHandler]. It returns an error if auth or rv is nil or an option is
// invalid.
//
// The endpoint is the token revocation endpoint (RFC 7009 §2,
// https://www.rfc-editor.org/rfc/rfc7009#section-2), an [http.Handler] to
// mount on the host's mux for POST. It runs the checks of the token
// endpoint (see the package documentation) up to and including client
// authentication; then token must be present (invalid_request otherwise)
// and token_type_hint, if sent, is passed through as is. It calls the
// [Revoker] and answers 200 with an empty body and Cache-Control: no-store
// when the Revoker returns nil, or writes the error. It does not set
// Retry-After on a 503. The handler is safe for concurrent use.
func NewRevocationHandler(auth ClientAuthenticator, rv Revoker, opts ...Option) (http.Handler, error) {
	var answer tokenAnswer
	if rv != nil {
		answer = func(w http.ResponseWriter, r *http.Request, client Client, token, hint string) error {
			if err := rv.Revoke(r.Context(), client, token, hint); err != nil {
				return err
			}
			setNoStore(w.Header())
			w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	return newTokenParamEndpoint("revocation", "Revoker", auth, answer, opts)
}

// tokenAnswer decides the introspection or revocation request of client
// for token and hint, and writes the response. When it returns an error it
// has written nothing, and the endpoint sends the error.
type tokenAnswer func(w http.ResponseWriter, r *http.Request, client Client, token, hint string) error

// tokenParamEndpoint is the introspection or revocation endpoint: the
// checks of the token endpoint up to and including client authentication,
// then the token parameters, then answer.
type tokenParamEndpoint struct {
	pipe   pipeline
	answer tokenAnswer
}

var _ http.Handler = (*tokenParamEndpoint)(nil)

// newTokenParamEndpoint returns the endpoint named name (for messages) that
// authenticates clients with auth and answers with answer, which calls the
// decision (the Introspector or the Revoker, as decision names it). It
// returns an error if auth or answer is nil, or an option is invalid or is
// WithGrant.
func newTokenParamEndpoint(name, decision string, auth ClientAuthenticator, answer tokenAnswer, opts []Option) (http.Handler, error) {
	if auth == nil {
		return nil, errNilAuthenticator
	}
	if answer == nil {
		return nil, errors.New("tokenexchange: nil " + decision)
	}
	pipe, err := newPipeline(name, auth, tokenParams(), tokenParams(), opts)
	if err != nil {
		return nil, err
	}
	if len(pipe.grants) > 0 || pipe.fallback != nil {
		return nil, errors.New("tokenexchange: WithGrant and WithFallback apply to the token endpoint only")
	}
	return &tokenParamEndpoint{pipe: pipe, answer: answer}, nil
}

// ServeHTTP handles one introspection or revocation request.
func (h *tokenParamEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.pipe.serve(w, r, func(client Client, form url.Values) error {
		token, hint, err := tokenParam(form)
		if err != nil {
			return err
		}
		return h.answer(w, r, client, token, hint)
	})
}
