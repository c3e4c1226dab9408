package tokenexchange

import (
	"context"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/actas/actas/internal/wire"
)

// DefaultMaxBodyBytes is the default cap on the size of a request body at
// each endpoint, 64 KiB. Change it with [WithMaxBodyBytes].
const DefaultMaxBodyBytes = 64 << 10

// basicChallenge is the WWW-Authenticate value sent when HTTP Basic client
// authentication fails (RFC 6749 §5.2, RFC 7617 §2). The three endpoints
// share one realm: the same client credentials are valid at all of them.
const basicChallenge = `Basic realm="token"`

// formContentType is the only media type the endpoints accept (RFC 6749
// §3.2 and Appendix B, RFC 7662 §2.1, RFC 7009 §2.1).
const formContentType = "application/x-www-form-urlencoded"

// errNilAuthenticator is what every constructor returns for a nil
// [ClientAuthenticator].
var errNilAuthenticator = errors.New("tokenexchange: nil ClientAuthenticator")

// handlerConfig is what the options of [NewHandler],
// [NewIntrospectionHandler] and [NewRevocationHandler] set.
type handlerConfig struct {
	maxBodyBytes int64
	observer     func(r *http.Request, clientID string, err error)
	grants       map[string]GrantHandler
	fallback     http.Handler
}

// Option configures [NewHandler], [NewIntrospectionHandler] and
// [NewRevocationHandler].
type Option func(*handlerConfig)

// WithMaxBodyBytes caps the request body at n bytes instead of
// [DefaultMaxBodyBytes]. A larger body is refused with invalid_request. n
// must be positive; otherwise the constructor returns an error.
func WithMaxBodyBytes(n int64) Option {
	return func(c *handlerConfig) { c.maxBodyBytes = n }
}

// WithErrorObserver makes the handler call f, after writing the response,
// for every refused request: protocol-level refusals and errors of the
// [Exchanger], [Introspector] or [Revoker] alike, so that the host can audit
// them. err is the full error, with its cause, not what the client saw.
// clientID is the authenticated client for errors after client
// authentication, the claimed one for failed client authentication, and
// empty when the request was refused before client authentication or named
// no client. f must be safe for concurrent use and must not write to the
// response. A nil f means no observer.
func WithErrorObserver(f func(r *http.Request, clientID string, err error)) Option {
	return func(c *handlerConfig) { c.observer = f }
}

// pipeline is the request pipeline the token, introspection and revocation
// endpoints share: method, content type, capped body, URL query, repeated
// parameters and client authentication, and the writing of refusals. It is
// immutable after newPipeline, so safe for concurrent use.
type pipeline struct {
	// name names the endpoint in error descriptions: "token",
	// "introspection" or "revocation".
	name string
	auth ClientAuthenticator
	// known lists the parameters refused in the URL query, client_id and
	// client_secret included. Only these names are echoed in descriptions.
	known []string
	// single lists the parameters that may appear at most once, client_id
	// and client_secret included.
	single       []string
	maxBodyBytes int64
	observer     func(r *http.Request, clientID string, err error)
	// grants are the extra grant types of the token endpoint (WithGrant);
	// the other endpoints have none.
	grants map[string]GrantHandler
	// fallback is the host's token endpoint (WithFallback), for the
	// requests that are not the token endpoint's; nil for none.
	fallback http.Handler
}

// newPipeline applies opts and returns the pipeline of the endpoint called
// name. auth must not be nil; constructors check it first.
func newPipeline(name string, auth ClientAuthenticator, known, single []string, opts []Option) (pipeline, error) {
	cfg := handlerConfig{maxBodyBytes: DefaultMaxBodyBytes}
	for _, o := range opts {
		if o == nil {
			return pipeline{}, errors.New("tokenexchange: nil Option")
		}
		o(&cfg)
	}
	if cfg.maxBodyBytes <= 0 {
		return pipeline{}, errors.New("tokenexchange: WithMaxBodyBytes: limit must be positive")
	}
	return pipeline{
		name:         name,
		auth:         auth,
		known:        known,
		single:       single,
		maxBodyBytes: cfg.maxBodyBytes,
		observer:     cfg.observer,
		grants:       cfg.grants,
		fallback:     cfg.fallback,
	}, nil
}

// serve handles one request: it runs accept and then answer, which writes
// the response, and refuses with answer's error. answer writes nothing when
// it returns an error.
func (p *pipeline) serve(w http.ResponseWriter, r *http.Request, answer func(client Client, form url.Values) error) {
	client, form, ok := p.accept(w, r)
	if !ok {
		return
	}
	if err := answer(client, form); err != nil {
		p.refuse(w, r, client, err, 0)
	}
}

// accept runs the steps every endpoint takes before its own parameters, in
// this order: the method is POST (405 with Allow otherwise, RFC 6749 §3.2,
// RFC 7662 §2.1, RFC 7009 §2.1); the Content-Type is
// application/x-www-form-urlencoded; the body fits p.maxBodyBytes and
// parses; no known parameter is in the URL query; no single parameter
// repeats; the client authenticates with exactly one method. It returns the
// authenticated client and the body parameters without empty values (RFC
// 6749 §3.2). When ok is false, accept has already written the refusal and
// told the observer.
func (p *pipeline) accept(w http.ResponseWriter, r *http.Request) (client Client, form url.Values, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		p.refuse(w, r, Client{}, ErrInvalidRequest.WithDescription("the "+p.name+" endpoint accepts only POST"), http.StatusMethodNotAllowed)
		return Client{}, nil, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formContentType {
		p.refuse(w, r, Client{}, ErrInvalidRequest.WithDescription("Content-Type must be "+formContentType), 0)
		return Client{}, nil, false
	}
	form, err := p.readForm(w, r)
	if err != nil {
		p.refuse(w, r, Client{}, err, 0)
		return Client{}, nil, false
	}
	if err := checkQuery(r.URL, p.known); err != nil {
		p.refuse(w, r, Client{}, err, 0)
		return Client{}, nil, false
	}
	form = dropEmptyInPlace(form) // the form is ours: parsed from the body above
	if err := checkRepeated(form, p.single); err != nil {
		p.refuse(w, r, Client{}, err, 0)
		return Client{}, nil, false
	}
	client, err = p.authenticate(r, form)
	if err != nil {
		p.refuse(w, r, client, err, 0)
		return Client{}, nil, false
	}
	return client, form, true
}

// refuse writes err (see [WriteError]) with status, or with the status of
// the wire error when status is 0, challenges a client that tried HTTP Basic
// when the status is 401 (RFC 6749 §5.2), and tells the observer.
func (p *pipeline) refuse(w http.ResponseWriter, r *http.Request, client Client, err error, status int) {
	e := wireError(err)
	if status == 0 {
		status = e.StatusCode()
	}
	if status == http.StatusUnauthorized && client.AuthMethod == AuthMethodBasic {
		w.Header().Set("WWW-Authenticate", basicChallenge)
	}
	writeErrorStatus(w, e, status)
	if p.observer != nil {
		p.observer(r, client.ID, err)
	}
}

// readForm reads at most p.maxBodyBytes of the body and parses it as a form.
// Only the body is read: the URL query is never merged in.
func (p *pipeline) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	form, fe := wire.ReadForm(w, r, p.maxBodyBytes)
	if fe != nil {
		return nil, ErrInvalidRequest.WithDescription(fe.Description).WithCause(fe.Cause)
	}
	return form, nil
}

// checkQuery refuses any of known with a value in the URL query. RFC 6749
// §2.3.1 says client credentials "MUST NOT be included in the request URI";
// the endpoints refuse every parameter they understand there rather than
// ignore it, so that a client that put them there learns of its mistake,
// and so that no token travels in a URL. Other query parameters are ignored.
func checkQuery(u *url.URL, known []string) error {
	if u == nil || u.RawQuery == "" {
		return nil
	}
	q, _ := url.ParseQuery(u.RawQuery) // a malformed query still yields what parsed
	for _, name := range known {
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
func (p *pipeline) authenticate(r *http.Request, form url.Values) (Client, error) {
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
		return c, p.check(r.Context(), id, secret)
	case hasSecret:
		c := Client{ID: bodyID, AuthMethod: AuthMethodPost}
		if bodyID == "" {
			return c, ErrInvalidClient.WithDescription("client_id is required with client_secret")
		}
		return c, p.check(r.Context(), bodyID, form.Get(paramClientSecret))
	default:
		return Client{ID: bodyID}, ErrInvalidClient.WithDescription("client authentication required")
	}
}

// check calls the authenticator and maps its error: temporarily_unavailable
// and server_error pass through, anything else is invalid_client with a
// fixed description and the authenticator's error as cause.
func (p *pipeline) check(ctx context.Context, id, secret string) error {
	err := p.auth.AuthenticateClient(ctx, id, secret)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e != nil && (e.Code == codeTemporarilyUnavailable || e.Code == codeServerError) {
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
