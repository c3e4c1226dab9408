package tokenexchange

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/actas/actas/claims"
)

// Introspection is an introspection response (RFC 7662 §2.2,
// https://www.rfc-editor.org/rfc/rfc7662#section-2.2), plain data with the
// JSON names of the RFC. Zero-valued members are omitted; Active is always
// sent. Scope is sent as a space-delimited string, Audience as a string when
// it holds one value and as an array otherwise, and Act as the nested act
// claim of RFC 8693 §4.1.
//
// The introspection endpoint sends an inactive Introspection as
// {"active":false} alone, whatever its other fields hold, and [Introspect]
// returns it that way: RFC 7662 §2.2 says the server SHOULD NOT disclose
// anything more about an inactive token.
type Introspection struct {
	// Active says whether the token is currently active: issued by this
	// server, not expired, not revoked and visible to the client.
	Active bool `json:"active"`
	// Scope is the scope of the token.
	Scope claims.Scope `json:"scope,omitempty"`
	// ClientID is the client the token was issued to.
	ClientID string `json:"client_id,omitempty"`
	// Username is a human-readable identifier of the resource owner.
	Username string `json:"username,omitempty"`
	// TokenType is the type of the token, such as [BearerTokenType].
	TokenType string `json:"token_type,omitempty"`
	// Expiry is the exp claim, seconds since the Unix epoch. Zero means
	// unspecified.
	Expiry int64 `json:"exp,omitempty"`
	// IssuedAt is the iat claim, seconds since the Unix epoch. Zero means
	// unspecified.
	IssuedAt int64 `json:"iat,omitempty"`
	// NotBefore is the nbf claim, seconds since the Unix epoch. Zero means
	// unspecified.
	NotBefore int64 `json:"nbf,omitempty"`
	// Subject is the sub claim, usually a machine-readable identifier of
	// the resource owner.
	Subject string `json:"sub,omitempty"`
	// Audience is the aud claim.
	Audience claims.Audience `json:"aud,omitempty"`
	// Issuer is the iss claim.
	Issuer string `json:"iss,omitempty"`
	// ID is the jti claim.
	ID string `json:"jti,omitempty"`
	// Act is the act claim of RFC 8693 §4.1: who acts for Subject. Nil
	// means nobody does.
	Act *claims.Actor `json:"act,omitempty"`
	// OrgID is the organisation the token belongs to, an extension member.
	OrgID string `json:"org_id,omitempty"`
	// OrgName is the name of that organisation, an extension member.
	OrgName string `json:"org_name,omitempty"`
}

// Introspector decides an introspection (RFC 7662 §2,
// https://www.rfc-editor.org/rfc/rfc7662#section-2) for an authenticated
// client. Implementations must be safe for concurrent use.
type Introspector interface {
	// Introspect returns what the client may learn about token. It returns
	// {Active:false} (not an error) for unknown, expired, revoked, foreign
	// or garbage tokens, and for tokens the client may not see; a nil
	// *Introspection with a nil error counts as {Active:false}.
	// tokenTypeHint is the token_type_hint parameter as sent, empty when
	// absent; RFC 7662 §2.1 lets the server ignore it, so the handler
	// accepts any value. An error is a server failure: an error that is
	// (errors.As) an [*Error] is sent as is (for example
	// [ErrTemporarilyUnavailable]); any other error becomes server_error
	// with a generic description.
	Introspect(ctx context.Context, client Client, token, tokenTypeHint string) (*Introspection, error)
}

// inactiveBody is the only body sent for an inactive token.
const inactiveBody = `{"active":false}`

// NewIntrospectionHandler returns the introspection endpoint that
// authenticates clients with auth and answers with in. It takes the same
// options as [NewHandler]. It returns an error if auth or in is nil or an
// option is invalid.
//
// The endpoint is the token introspection endpoint (RFC 7662 §2,
// https://www.rfc-editor.org/rfc/rfc7662#section-2), an [http.Handler] to
// mount on the host's mux for POST. It runs the checks of the token
// endpoint (see the package documentation) up to and including client
// authentication, which RFC 7662 §2.1 requires of the endpoint; then token
// must be present (invalid_request otherwise) and token_type_hint, if sent,
// is passed through as is. It calls the [Introspector] and writes its
// answer as 200 JSON with Cache-Control: no-store and Pragma: no-cache, or
// the error. An inactive or nil answer is written as {"active":false} alone
// (RFC 7662 §2.2). The handler is safe for concurrent use.
func NewIntrospectionHandler(auth ClientAuthenticator, in Introspector, opts ...Option) (http.Handler, error) {
	var answer tokenAnswer
	if in != nil {
		answer = func(w http.ResponseWriter, r *http.Request, client Client, token, hint string) error {
			got, err := in.Introspect(r.Context(), client, token, hint)
			if err != nil {
				return err
			}
			body := []byte(inactiveBody)
			if got != nil && got.Active {
				if body, err = json.Marshal(got); err != nil {
					return ErrServerError.WithDescription(internalErrorDescription).WithCause(err)
				}
			}
			writeJSON(w, body)
			return nil
		}
	}
	return newTokenParamEndpoint("introspection", "Introspector", auth, answer, opts)
}
