package impersonation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/actas/actas/tokenexchange"
)

// Endpoints are the HTTP handlers of an issuer, from [Service.Handlers]:
// every refusal they answer is already recorded in the audit log. Mount
// them with [Endpoints.Mount], or one by one on the host's own paths
// (then give Handlers the paths in WithMetadata).
type Endpoints struct {
	// Authorize is the impersonation authorize endpoint (GET and POST).
	Authorize http.Handler
	// Token is the token endpoint (POST): token exchange, the refresh
	// grant when sessions are on, and the grants of WithGrant.
	Token http.Handler
	// UserInfo is the OpenID Connect UserInfo endpoint (GET and POST):
	// the claims of the user an access token speaks for; see [UserInfo].
	UserInfo http.Handler
	// Introspection (RFC 7662) and Revocation (RFC 7009), POST.
	Introspection http.Handler
	Revocation    http.Handler
	// JWKS publishes the signing keys (GET).
	JWKS http.Handler
	// Metadata is the discovery document (RFC 8414, OpenID Connect
	// Discovery), GET.
	Metadata http.Handler
	// EndSession is the end-session endpoint (OpenID Connect RP-Initiated
	// Logout 1.0), GET and POST; nil without WithLogout.
	EndSession http.Handler

	metadata Metadata
}

// HandlerOption configures [Service.Handlers].
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	consent  ConsentFunc
	fallback http.Handler
	grants   map[string]tokenexchange.GrantHandler
	metadata *Metadata
	observe  func(r *http.Request, clientID string, err error)
	// logout, logins and logoutPage are WithLogout's and WithLogoutPage's.
	logout     bool
	logins     Logins
	logoutPage LogoutPageFunc
}

// WithConsent asks for consent before issuing a subject token; without it
// the authorize endpoint issues as soon as the policy permits.
func WithConsent(f ConsentFunc) HandlerOption {
	return func(c *handlerConfig) { c.consent = f }
}

// WithGrant serves one more grant type of the host's (say, its
// authorization-code grant) at the token endpoint; see
// tokenexchange.WithGrant. Token exchange, and the refresh grant when
// sessions are on, cannot be replaced.
func WithGrant(grantType string, h tokenexchange.GrantHandler) HandlerOption {
	return func(c *handlerConfig) {
		if c.grants == nil {
			c.grants = map[string]tokenexchange.GrantHandler{}
		}
		c.grants[grantType] = h
	}
}

// WithTokenFallback puts the endpoints' token endpoint in front of the
// host's own: every request that is not token exchange (or a grant of
// WithGrant, or the refresh grant of sessions) goes to host as it came,
// body included; see tokenexchange.WithFallback. The host's requests are
// the host's to check and record.
func WithTokenFallback(host http.Handler) HandlerOption {
	return func(c *handlerConfig) { c.fallback = host }
}

// WithMetadata replaces the discovery document, whose endpoint URLs
// [Endpoints.Mount] also mounts at; default [DefaultMetadata] for the
// issuer and its signing algorithm, with the refresh grant and the session
// claims when sessions are on and the grant types of WithGrant.
func WithMetadata(m Metadata) HandlerOption {
	return func(c *handlerConfig) { c.metadata = &m }
}

// WithRefusalObserver makes the endpoints call f for every refused
// request, after recording it (see tokenexchange.WithErrorObserver): for
// logs and metrics. f must be safe for concurrent use.
func WithRefusalObserver(f func(r *http.Request, clientID string, err error)) HandlerOption {
	return func(c *handlerConfig) { c.observe = f }
}

// Handlers returns every endpoint the issuer mounts, wired to s, with
// login as the impersonator's authentication at the authorize endpoint.
// Refusals at the token, UserInfo, introspection and revocation endpoints
// are recorded as request.refused events unless s recorded them already. It
// reads the signing key (for the metadata's algorithm) with ctx.
func (s *Service) Handlers(ctx context.Context, login Authenticator, opts ...HandlerOption) (*Endpoints, error) {
	if login == nil {
		return nil, errors.New("impersonation: Handlers needs an Authenticator")
	}
	var cfg handlerConfig
	for _, o := range opts {
		o(&cfg)
	}
	observe := tokenexchange.WithErrorObserver(func(r *http.Request, clientID string, err error) {
		s.recordRefusal(r, clientID, err)
		if cfg.observe != nil {
			cfg.observe(r, clientID, err)
		}
	})
	tokenOpts := []tokenexchange.Option{observe}
	grantTypes := []string{tokenexchange.GrantType}
	if s.sessions != nil {
		if _, ok := cfg.grants[tokenexchange.GrantTypeRefreshToken]; ok {
			return nil, errors.New("impersonation: WithGrant cannot replace the refresh grant of impersonation sessions")
		}
		tokenOpts = append(tokenOpts, tokenexchange.WithGrant(tokenexchange.GrantTypeRefreshToken, s.sessions))
		grantTypes = append(grantTypes, tokenexchange.GrantTypeRefreshToken)
	}
	for gt, h := range cfg.grants {
		tokenOpts = append(tokenOpts, tokenexchange.WithGrant(gt, h))
		grantTypes = append(grantTypes, gt)
	}
	if cfg.fallback != nil {
		tokenOpts = append(tokenOpts, tokenexchange.WithFallback(cfg.fallback))
	}
	e := &Endpoints{Authorize: &authorizeHandler{svc: s, authn: login, consent: cfg.consent}, JWKS: jwksHandler(s.stores.Keys)}
	var err error
	if e.Token, err = tokenexchange.NewHandler(s, s, tokenOpts...); err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	e.UserInfo = &userInfoHandler{svc: s}
	if e.Introspection, err = tokenexchange.NewIntrospectionHandler(s, s, observe); err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	if e.Revocation, err = tokenexchange.NewRevocationHandler(s, s, observe); err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	if cfg.logoutPage != nil && !cfg.logout {
		return nil, errors.New("impersonation: WithLogoutPage needs WithLogout")
	}
	if cfg.metadata != nil {
		e.metadata = *cfg.metadata
		if e.metadata.EndSessionEndpoint != "" && !cfg.logout {
			return nil, errors.New("impersonation: the metadata names an end_session_endpoint but Handlers has no WithLogout to serve it: add WithLogout, or clear Metadata.EndSessionEndpoint")
		}
	} else {
		key, err := s.stores.Keys.SigningKey(ctx)
		if err != nil {
			return nil, fmt.Errorf("impersonation: signing key: %w", err)
		}
		e.metadata = DefaultMetadata(s.issuer, key.Algorithm)
		slices.Sort(grantTypes[1:])
		e.metadata.GrantTypesSupported = grantTypes
		if s.sessions != nil {
			e.metadata.ClaimsSupported = append(e.metadata.ClaimsSupported, ClaimSessionID, ClaimReason)
		}
		if !cfg.logout {
			e.metadata.EndSessionEndpoint = ""
		}
	}
	if cfg.logout {
		if e.EndSession, err = newEndSessionHandler(s, cfg.logins, cfg.logoutPage, e.metadata.EndSessionEndpoint); err != nil {
			return nil, err
		}
	}
	if e.Metadata, err = metadataHandler(e.metadata); err != nil {
		return nil, fmt.Errorf("impersonation: %w", err)
	}
	return e, nil
}

// Mount registers the endpoints on mux at the paths of the metadata's
// endpoint URLs (by default /oauth2/authorize, /oauth2/token,
// /oauth2/userinfo, /oauth2/introspect, /oauth2/revoke and /oauth2/jwks
// under the issuer, and /oauth2/logout with WithLogout),
// and the metadata at /.well-known/openid-configuration under the issuer
// (OpenID Connect Discovery §4) and at
// /.well-known/oauth-authorization-server before the issuer's path (RFC
// 8414 §3). Each handler answers other methods itself. A URL that is not
// absolute, or a path already registered on mux, is an error (nothing is
// mounted then).
func (e *Endpoints) Mount(mux *http.ServeMux) error {
	iss, err := url.Parse(e.metadata.Issuer)
	if err != nil || iss.Host == "" {
		return fmt.Errorf("impersonation: Mount: issuer %q is not an absolute URL", e.metadata.Issuer)
	}
	issPath := strings.TrimSuffix(iss.Path, "/")
	routes := []struct {
		url string
		h   http.Handler
	}{
		{e.metadata.AuthorizationEndpoint, e.Authorize},
		{e.metadata.TokenEndpoint, e.Token},
		{e.metadata.UserInfoEndpoint, e.UserInfo},
		{e.metadata.IntrospectionEndpoint, e.Introspection},
		{e.metadata.RevocationEndpoint, e.Revocation},
		{e.metadata.JWKSURI, e.JWKS},
		{e.metadata.EndSessionEndpoint, e.EndSession},
	}
	paths := make([]string, 0, len(routes)+2)
	handlers := make([]http.Handler, 0, len(routes)+2)
	for _, r := range routes {
		if r.url == "" {
			continue
		}
		if r.h == nil {
			return fmt.Errorf("impersonation: Mount: no handler for endpoint %q", r.url)
		}
		u, err := url.Parse(r.url)
		if err != nil || u.Host == "" || u.Path == "" {
			return fmt.Errorf("impersonation: Mount: endpoint %q is not an absolute URL", r.url)
		}
		paths, handlers = append(paths, u.Path), append(handlers, r.h)
	}
	paths = append(paths, path.Join("/", issPath, ".well-known/openid-configuration"), "/.well-known/oauth-authorization-server"+issPath)
	handlers = append(handlers, e.Metadata, e.Metadata)
	for i, p := range paths {
		if slices.Contains(paths[:i], p) {
			return fmt.Errorf("impersonation: Mount: two endpoints at %s", p)
		}
		if _, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}}); pattern == p {
			return fmt.Errorf("impersonation: Mount: %s is already registered", p)
		}
	}
	for i, p := range paths {
		mux.Handle(p, handlers[i])
	}
	return nil
}
