package tokenexchange

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
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

// DefaultMaxBodyBytes is the default cap on the size of a token request
// body, 64 KiB. Change it with [WithMaxBodyBytes].
const DefaultMaxBodyBytes = 64 << 10

// basicChallenge is the WWW-Authenticate value sent when HTTP Basic client
// authentication fails (RFC 6749 §5.2, RFC 7617 §2).
const basicChallenge = `Basic realm="token"`

// formContentType is the only media type the token endpoint accepts (RFC
// 6749 §3.2, Appendix B).
const formContentType = "application/x-www-form-urlencoded"

// Client is the client the [Handler] authenticated, as it hands it to the
// [Exchanger].
type Client struct {
	// ID is the authenticated client_id.
	ID string
	// AuthMethod is how the client authenticated: [AuthMethodBasic] or
	// [AuthMethodPost].
	AuthMethod string
}

// ClientAuthenticator checks client credentials at the token endpoint (RFC
// 6749 §2.3.1, https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1).
// Implementations must be safe for concurrent use and should compare secrets
// in constant time.
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

// handlerConfig is what the options of [NewHandler] set.
type handlerConfig struct {
	maxBodyBytes int64
	observer     func(r *http.Request, clientID string, err error)
}

// Option configures [NewHandler].
type Option func(*handlerConfig)

// WithMaxBodyBytes caps the token request body at n bytes instead of
// [DefaultMaxBodyBytes]. A larger body is refused with invalid_request. n
// must be positive; otherwise [NewHandler] returns an error.
func WithMaxBodyBytes(n int64) Option {
	return func(c *handlerConfig) { c.maxBodyBytes = n }
}

// WithErrorObserver makes the [Handler] call f, after writing the response,
// for every refused request: protocol-level refusals and [Exchanger] errors
// alike, so that the host can audit them. err is the full error, with its
// cause, not what the client saw. clientID is the authenticated client for
// [Exchanger] errors, the claimed one for failed client authentication, and
// empty when the request was refused before client authentication or named
// no client. f must be safe for concurrent use and must not write to the
// response. A nil f means no observer.
func WithErrorObserver(f func(r *http.Request, clientID string, err error)) Option {
	return func(c *handlerConfig) { c.observer = f }
}

// Handler is the token endpoint for token exchange (RFC 8693 §2,
// https://www.rfc-editor.org/rfc/rfc8693#section-2), an [http.Handler] to
// mount on the host's mux for POST. It parses and validates the request,
// authenticates the client, calls the [Exchanger] and writes the response or
// the error; the package documentation lists the checks in order. Create it
// with [NewHandler]. A Handler is safe for concurrent use.
type Handler struct {
	auth         ClientAuthenticator
	ex           Exchanger
	maxBodyBytes int64
	observer     func(r *http.Request, clientID string, err error)
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the token endpoint that authenticates clients with auth
// and performs exchanges with ex. It returns an error if auth or ex is nil
// or an option is invalid.
func NewHandler(auth ClientAuthenticator, ex Exchanger, opts ...Option) (*Handler, error) {
	if auth == nil {
		return nil, errors.New("tokenexchange: nil ClientAuthenticator")
	}
	if ex == nil {
		return nil, errors.New("tokenexchange: nil Exchanger")
	}
	cfg := handlerConfig{maxBodyBytes: DefaultMaxBodyBytes}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("tokenexchange: nil Option")
		}
		o(&cfg)
	}
	if cfg.maxBodyBytes <= 0 {
		return nil, errors.New("tokenexchange: WithMaxBodyBytes: limit must be positive")
	}
	return &Handler{auth: auth, ex: ex, maxBodyBytes: cfg.maxBodyBytes, observer: cfg.observer}, nil
}

// ServeHTTP handles one token request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// RFC 6749 §3.2: the client MUST use POST; RFC 8693 §2.1.
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, Client{}, ErrInvalidRequest.WithDescription("the token endpoint accepts only POST"), http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formContentType {
		h.refuse(w, r, Client{}, ErrInvalidRequest.WithDescription("Content-Type must be "+formContentType), 0)
		return
	}
	form, err := h.readForm(w, r)
	if err != nil {
		h.refuse(w, r, Client{}, err, 0)
		return
	}
	if err := checkQuery(r.URL); err != nil {
		h.refuse(w, r, Client{}, err, 0)
		return
	}
	form = dropEmpty(form)
	single := singleParams()
	if err := checkRepeated(form, append(single[:], paramClientID, paramClientSecret)); err != nil {
		h.refuse(w, r, Client{}, err, 0)
		return
	}
	client, err := h.authenticate(r, form)
	if err != nil {
		h.refuse(w, r, client, err, 0)
		return
	}
	req, err := parseForm(form)
	if err != nil {
		h.refuse(w, r, client, err, 0)
		return
	}
	resp, err := h.ex.Exchange(r.Context(), client, req)
	if err != nil {
		h.refuse(w, r, client, err, 0)
		return
	}
	if err := resp.check(); err != nil {
		h.refuse(w, r, client, ErrServerError.WithDescription(internalErrorDescription).WithCause(err), 0)
		return
	}
	WriteResponse(w, resp)
}

// refuse writes err (see [WriteError]) with status, or with the status of
// the wire error when status is 0, challenges a client that tried HTTP Basic
// when the status is 401 (RFC 6749 §5.2), and tells the observer.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, client Client, err error, status int) {
	e := wireError(err)
	if status == 0 {
		status = e.StatusCode()
	}
	if status == http.StatusUnauthorized && client.AuthMethod == AuthMethodBasic {
		w.Header().Set("WWW-Authenticate", basicChallenge)
	}
	writeErrorStatus(w, e, status)
	if h.observer != nil {
		h.observer(r, client.ID, err)
	}
}

// readForm reads at most h.maxBodyBytes of the body and parses it as a form.
// Only the body is read: the URL query is never merged in.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Body == nil {
		return url.Values{}, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrInvalidRequest.WithDescription("request body too large").WithCause(err)
		}
		return nil, ErrInvalidRequest.WithDescription("could not read request body").WithCause(err)
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("malformed request body").WithCause(err)
	}
	return form, nil
}

// checkQuery refuses a token request parameter in the URL query. RFC 6749
// §2.3.1 says client credentials "MUST NOT be included in the request URI";
// the handler refuses every token request parameter there rather than
// ignore it, so that a client that put them there learns of its mistake.
// Other query parameters are ignored.
func checkQuery(u *url.URL) error {
	if u == nil || u.RawQuery == "" {
		return nil
	}
	q, _ := url.ParseQuery(u.RawQuery) // a malformed query still yields what parsed
	for _, name := range knownParams() {
		for _, v := range q[name] {
			if v != "" {
				return ErrInvalidRequest.WithDescription("parameter not allowed in the URL query: " + name)
			}
		}
	}
	return nil
}

// authenticate authenticates the client with client_secret_basic or
// client_secret_post (RFC 6749 §2.3.1). On failure the returned Client holds
// the claimed ID, if any, and AuthMethodBasic when the client used the
// Authorization header.
func (h *Handler) authenticate(r *http.Request, form url.Values) (Client, error) {
	authz := r.Header.Values("Authorization")
	_, hasSecret := form[paramClientSecret]
	bodyID := form.Get(paramClientID)
	switch {
	case len(authz) > 1:
		return Client{}, ErrInvalidRequest.WithDescription("more than one Authorization header")
	case len(authz) == 1 && hasSecret:
		// RFC 6749 §2.3: the client MUST NOT use more than one
		// authentication method in each request.
		return Client{}, ErrInvalidRequest.WithDescription("more than one client authentication method")
	case len(authz) == 1:
		c := Client{AuthMethod: AuthMethodBasic}
		id, secret, err := parseBasic(authz[0])
		if err != nil {
			return c, ErrInvalidClient.WithDescription("malformed Basic credentials").WithCause(err)
		}
		c.ID = id
		if bodyID != "" && bodyID != id {
			return c, ErrInvalidRequest.WithDescription("client_id does not match the Authorization header")
		}
		return c, h.check(r.Context(), id, secret)
	case hasSecret:
		c := Client{ID: bodyID, AuthMethod: AuthMethodPost}
		if bodyID == "" {
			return c, ErrInvalidClient.WithDescription("client_id is required with client_secret")
		}
		return c, h.check(r.Context(), bodyID, form.Get(paramClientSecret))
	default:
		return Client{ID: bodyID}, ErrInvalidClient.WithDescription("client authentication required")
	}
}

// check calls the authenticator and maps its error: temporarily_unavailable
// and server_error pass through, anything else is invalid_client with a
// fixed description and the authenticator's error as cause.
func (h *Handler) check(ctx context.Context, id, secret string) error {
	err := h.auth.AuthenticateClient(ctx, id, secret)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e != nil && (e.Code == CodeTemporarilyUnavailable || e.Code == CodeServerError) {
		return err
	}
	return ErrInvalidClient.WithDescription("client authentication failed").WithCause(err)
}

// errMalformedBasic is the cause of a refused Authorization header.
var errMalformedBasic = errors.New("tokenexchange: malformed Basic credentials")

// parseBasic decodes HTTP Basic credentials (RFC 7617) whose user-id and
// password are the client_id and client_secret encoded with the
// application/x-www-form-urlencoded algorithm (RFC 6749 §2.3.1,
// https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1). An empty client_id
// or secret is refused.
func parseBasic(header string) (id, secret string, err error) {
	scheme, creds, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errMalformedBasic
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(creds, " "))
	if err != nil {
		return "", "", errMalformedBasic
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errMalformedBasic
	}
	if id, err = url.QueryUnescape(encID); err != nil {
		return "", "", errMalformedBasic
	}
	if secret, err = url.QueryUnescape(encSecret); err != nil {
		return "", "", errMalformedBasic
	}
	if id == "" || secret == "" {
		return "", "", errMalformedBasic
	}
	return id, secret, nil
}
