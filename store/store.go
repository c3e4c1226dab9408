package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel outcomes of store operations; implementations wrap or return
// them so callers can test with errors.Is.
var (
	// ErrNotFound: the client, user, organisation or key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyUsed: a one-time value was used before (a replay).
	ErrAlreadyUsed = errors.New("store: already used")
)

// Response modes a client may register (OAuth 2.0 Multiple Response Type
// Encoding Practices, and Form Post Response Mode).
const (
	ResponseModeFragment = "fragment"
	ResponseModeQuery    = "query"
	ResponseModeFormPost = "form_post"
)

// Client is an OAuth client registration. The zero value is an enabled
// client with nothing allowed.
type Client struct {
	// ID is the client_id.
	ID string
	// Name is shown to people (notices, consent); optional.
	Name string
	// SecretHash is the output of [HashSecret]; empty for a public client.
	SecretHash string
	// RedirectURIs are compared to redirect_uri exactly, byte for byte.
	RedirectURIs []string
	// Scopes the client may ask for.
	Scopes []string
	// GrantTypes the client may use at the token endpoint, e.g.
	// "urn:ietf:params:oauth:grant-type:token-exchange".
	GrantTypes []string
	// Disabled clients are refused everywhere.
	Disabled bool
	// Impersonation turns on the subject token response type for the client.
	Impersonation bool
	// ResponseModes the client accepts. Empty means fragment and form_post;
	// query (tokens in a URL query string) must be listed to be allowed.
	ResponseModes []string
	// Audiences the client may ask for at the token endpoint besides its
	// own ID, which is always allowed and is the default.
	Audiences []string
	// SubjectTokenTTL is the subject token lifetime; zero means the
	// service default (180 s).
	SubjectTokenTTL time.Duration
	// AccessTokenTTL is the access token lifetime; zero means the service
	// default (3600 s).
	AccessTokenTTL time.Duration
	// RefreshTokens lets the client receive refresh tokens from the
	// authorization-code grant. Off by default; under impersonation a
	// refresh token keeps act and never outlives the impersonation session.
	RefreshTokens bool
	// ReasonRequired refuses an impersonation through the client that
	// starts without a stated reason (the authorize request's
	// impersonation_reason, the reason of an impersonation session).
	ReasonRequired bool
	// RequireSubjectGrant refuses an impersonation through the client
	// unless the user has given a live SubjectGrant for it.
	RequireSubjectGrant bool
	// PostLogoutRedirectURIs are where the end-session endpoint may send
	// the browser after a logout the client asked for (OpenID Connect
	// RP-Initiated Logout 1.0 §3.1): post_logout_redirect_uri is compared
	// to them exactly, byte for byte, and a URI not listed is never
	// redirected to. Empty: the endpoint never redirects for the client.
	PostLogoutRedirectURIs []string
	// SkipLogoutConsent lets the end-session endpoint log the user out at
	// the client's request without asking them first, when the request
	// carries an id_token_hint for the user who is signed in (the seed's
	// "Skip logout consent"). Off by default: the user confirms on a page.
	// Without a hint, or with a hint for someone else, the user is always
	// asked.
	SkipLogoutConsent bool
}

// Organization is a tenant. Parent is the ID of the parent organisation,
// empty for a root.
type Organization struct {
	ID     string
	Name   string
	Parent string
}

// User is an end user. Org is the ID of the organisation the user belongs to.
type User struct {
	ID       string
	Username string
	Name     string
	Email    string
	Org      string
	Disabled bool
}

// Role is an application role: it belongs to one client and grants its
// scopes, for that client only, to its users.
type Role struct {
	Name     string
	ClientID string
	Scopes   []string
	Users    []string
}

// Clients looks up client registrations (RFC 6749 §2).
type Clients interface {
	// Client returns the client with this ID, or an error wrapping
	// ErrNotFound. The caller must not modify the result.
	Client(ctx context.Context, id string) (*Client, error)
}

// Users looks up users by ID (the sub claim).
type Users interface {
	// User returns the user, or an error wrapping ErrNotFound. The caller
	// must not modify the result.
	User(ctx context.Context, id string) (*User, error)
}

// Organizations looks up organisations, to walk the parent chain when
// deciding whether an impersonator's organisation covers the subject's.
type Organizations interface {
	// Organization returns the organisation, or an error wrapping
	// ErrNotFound. The caller must not modify the result.
	Organization(ctx context.Context, id string) (*Organization, error)
}

// Grants answers which scopes a user's roles grant for one client: roles
// are per client (application roles), so a role for another client grants
// nothing here.
type Grants interface {
	// GrantedScopes returns the union of the scopes of every role the user
	// holds for the client; none is an empty result, not an error.
	GrantedScopes(ctx context.Context, clientID, userID string) ([]string, error)
}

// OneTimeUse records values that may be used once, such as the jti of a
// subject token (RFC 7519 §4.1.7, RFC 8725 §3.10).
type OneTimeUse interface {
	// Use marks id as used until exp. It returns ErrAlreadyUsed if id was
	// marked before and has not expired. It must be atomic: of concurrent
	// calls with the same id, exactly one returns nil.
	Use(ctx context.Context, id string, exp time.Time) error
}

// Revocation records revoked tokens by jti (RFC 7009).
type Revocation interface {
	// Revoke marks id revoked until exp, after which the token is expired
	// anyway and the record may be dropped.
	Revoke(ctx context.Context, id string, exp time.Time) error
	// Revoked reports whether id is revoked.
	Revoked(ctx context.Context, id string) (bool, error)
}

// RateLimiter counts events per key in fixed windows, such as the
// impersonations one impersonator starts per minute.
type RateLimiter interface {
	// Allow counts one event for key in the current window of length per
	// and reports whether the window's count is at most limit. Of
	// concurrent calls, exactly limit are allowed per window.
	Allow(ctx context.Context, key string, limit int, per time.Duration) (bool, error)
}

// ImpersonationSession binds an impersonator's login session at the
// identity server to one impersonated user, after a successful exchange:
// while it lasts, ordinary sign-ins through that login session yield
// tokens for Subject with act.sub Impersonator.
type ImpersonationSession struct {
	// ID is random and is carried as the isid claim of every token issued
	// under the session, so that ending it revokes them all.
	ID string
	// LoginSession identifies the host's login session, the lookup key.
	// Stores keep it in clear (a Redis key, a column): pass an identifier
	// that is not itself a credential, such as a hash of the session
	// cookie, never the cookie value.
	LoginSession string
	Impersonator string
	Subject      string
	// ClientID is the client the impersonation was started through (where
	// the impersonator's role is checked).
	ClientID string
	Org      string
	// Reason is the impersonator's stated reason, if any.
	Reason  string
	Started time.Time
	Expires time.Time
	// StartTokenID and StartTokenExpiry identify the access token of the
	// exchange that started the session, revoked with it.
	StartTokenID     string
	StartTokenExpiry time.Time
}

// Sessions stores impersonation sessions by login session.
type Sessions interface {
	// PutSession stores s, replacing any session of s.LoginSession.
	PutSession(ctx context.Context, s ImpersonationSession) error
	// SessionFor returns the session of loginSession, or an error wrapping
	// ErrNotFound when there is none or it has expired.
	SessionFor(ctx context.Context, loginSession string) (*ImpersonationSession, error)
	// DeleteSession removes the session of loginSession; none is no error.
	DeleteSession(ctx context.Context, loginSession string) error
}

// SubjectGrant is access a user gives to be impersonated: through one
// client, by that client's impersonators or by one of them, until it
// expires or the user revokes it. A client that requires it
// (Client.RequireSubjectGrant) is refused every impersonation of a user
// without a live grant for it.
type SubjectGrant struct {
	// ID is random, unique per subject.
	ID string
	// Subject is the user who gives the access.
	Subject string
	// ClientID is the client the access is given for.
	ClientID string
	// Impersonator, when set, is the one user who may use the grant;
	// empty means any impersonator of the client.
	Impersonator string
	Created      time.Time
	Expires      time.Time
	// Revoked is when the subject revoked the grant; zero while not.
	Revoked time.Time
}

// Live reports whether g may be used at now: not revoked and not expired.
func (g *SubjectGrant) Live(now time.Time) bool {
	return g.Revoked.IsZero() && now.Before(g.Expires)
}

// SubjectGrants stores the access users give to be impersonated, by
// subject. A store keeps a grant at least until it expires; it may drop
// it later.
type SubjectGrants interface {
	// PutSubjectGrant adds g, or replaces the grant with g's Subject and
	// ID.
	PutSubjectGrant(ctx context.Context, g SubjectGrant) error
	// SubjectGrantsOf returns the grants of subject that expire after
	// since (revoked ones included), newest Created first; none is an
	// empty result, not an error.
	SubjectGrantsOf(ctx context.Context, subject string, since time.Time) ([]SubjectGrant, error)
	// RevokeSubjectGrant marks the grant id of subject revoked at at, if
	// it is not revoked already, and returns it as stored afterwards. An
	// unknown grant is an error wrapping ErrNotFound. Once it has
	// returned, SubjectGrantsOf returns the grant revoked to every caller.
	RevokeSubjectGrant(ctx context.Context, subject, id string, at time.Time) (*SubjectGrant, error)
}
