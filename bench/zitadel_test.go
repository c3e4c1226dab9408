package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/secretcache"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// This file is the zitadel/oidc side: a storage implementing op.Storage,
// op.TokenExchangeStorage and op.TokenExchangeTokensVerifierStorage that
// makes zitadel's token endpoint do what actas's does, as far as the hooks
// allow. Where each check happens:
//
//   - client_secret_basic: zitadel parses the header (ParseTokenExchangeRequest)
//     and calls AuthorizeClientIDSecret with the plain secret; we check it
//     against the same PBKDF2 hash actas uses, with the same
//     verified-secret memo (the same internal/secretcache).
//   - subject token (token type jwt): zitadel has no verifier of its own for
//     this type and calls VerifyExchangeSubjectToken, which verifies it with
//     zitadel's own primitives (oidc.ParseToken, CheckIssuer, CheckSignature
//     over the OP key set, CheckExpiration, CheckIssuedAt) plus typ, nbf,
//     jti, may_act and the act depth.
//   - actor token (token type id_token): zitadel verifies it itself with
//     VerifyIDTokenHint (iss, alg allowlist, signature over the key set given
//     by op.WithIDTokenHintKeySet, exp, iat); the key set we give it also
//     requires typ JWT. If that fails zitadel falls back to
//     VerifyExchangeActorToken, which refuses.
//   - everything that needs the client (audience/azp/client_id of both
//     tokens, may_act.sub = actor), the policy, scope narrowing, the
//     audience and resource allowlist and, last, one-time use of the subject
//     token's jti: ValidateTokenExchangeRequest.
//   - act, scope, azp, aut and org claims: GetPrivateClaimsFromTokenExchangeRequest;
//     the token ID, expiry and the audit event: CreateAccessToken.

// Header types, as actas mints them.
const (
	typSubjectToken = authorizetoken.HeaderType        // subject+jwt
	typIDToken      = authorizetoken.IDTokenHeaderType // JWT
)

// subjectClaimsKey is the one key of the claims map VerifyExchangeSubjectToken
// returns: the verified, typed claims, so that ValidateTokenExchangeRequest
// does not parse them again.
const subjectClaimsKey = "bench/verified-subject-token"

// oneTimeSkew is how long past exp a consumed jti is held, as in actas.
const oneTimeSkew = claims.DefaultSkew

var (
	errNotSupported = errors.New("bench: not supported by this storage")
	errClientAuth   = errors.New("bench: client authentication failed")
)

// Wire errors, with fixed descriptions like actas's.
func errBadSubjectToken() *oidc.Error {
	return oidc.ErrInvalidRequest().WithDescription("subject_token is invalid or unacceptable")
}

func errBadActorToken() *oidc.Error {
	return oidc.ErrInvalidRequest().WithDescription("actor_token is invalid or unacceptable")
}

// mayAct is the may_act claim (RFC 8693 §4.4).
type mayAct struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
}

// subjectClaims are a subject token's claims as VerifyExchangeSubjectToken
// reads them. org is set by ValidateTokenExchangeRequest for the private
// claims of the access token.
type subjectClaims struct {
	oidc.TokenClaims
	Scope  oidc.SpaceDelimitedArray `json:"scope"`
	MayAct *mayAct                  `json:"may_act"`

	org *store.Organization
}

// zitadelStorage is the zitadel/oidc storage of the comparison. It reads
// clients and grants from the same store/memory as actas, applies the same
// policy (impersonation.Service.Decide: host logic either library would
// call) and keeps its own one-time-use set. It is safe for concurrent use.
type zitadelStorage struct {
	clients store.Clients
	grants  store.Grants
	policy  func(ctx context.Context, clientID, impersonatorID, subjectID string) (*impersonation.Decision, error)
	auditor store.Auditor

	signing    signingKey
	publicKeys []op.Key
	// subjectKeys verifies subject tokens: the OP key set, typ subject+jwt.
	subjectKeys oidc.KeySet
	algs        []string

	secrets   secretcache.Cache
	dummyHash string
	used      *jtiSet
}

var (
	_ op.Storage                            = (*zitadelStorage)(nil)
	_ op.TokenExchangeStorage               = (*zitadelStorage)(nil)
	_ op.TokenExchangeTokensVerifierStorage = (*zitadelStorage)(nil)
)

// newZitadelStorage wraps the ES256 key that actas signs with as the
// signing key zitadel expects (a *ecdsa.PrivateKey under the same kid).
func newZitadelStorage(key store.PrivateKey, clients store.Clients, grants store.Grants,
	policy func(context.Context, string, string, string) (*impersonation.Decision, error), auditor store.Auditor,
) (*zitadelStorage, error) {
	ec, ok := key.Key.(*ecdsa.PrivateKey)
	if !ok || key.Algorithm != store.ES256 {
		return nil, fmt.Errorf("bench: zitadel side needs an ES256 key, got %s %T", key.Algorithm, key.Key)
	}
	dummy, err := store.HashSecret(newID(), store.ClientSecretIterations)
	if err != nil {
		return nil, err
	}
	s := &zitadelStorage{
		clients:    clients,
		grants:     grants,
		policy:     policy,
		auditor:    auditor,
		signing:    signingKey{id: key.ID, alg: jose.ES256, key: ec},
		publicKeys: []op.Key{publicKey{id: key.ID, alg: jose.ES256, key: &ec.PublicKey}},
		algs:       []string{string(jose.ES256)},
		dummyHash:  dummy,
		used:       newJTISet(),
	}
	s.subjectKeys = typedKeySet{next: &op.OpenIDKeySet{Storage: s}, typ: typSubjectToken}
	return s, nil
}

// idTokenKeySet is the key set for op.WithIDTokenHintKeySet: zitadel's own
// OP key set over this storage, requiring typ JWT so that a subject token
// or an access token is never taken for an ID token.
func (s *zitadelStorage) idTokenKeySet() oidc.KeySet {
	return typedKeySet{next: &op.OpenIDKeySet{Storage: s}, typ: typIDToken}
}

// typedKeySet verifies with next after checking the protected typ header
// (RFC 8725 §3.11), which zitadel's verifiers do not look at.
type typedKeySet struct {
	next oidc.KeySet
	typ  string
}

var _ oidc.KeySet = typedKeySet{}

func (k typedKeySet) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, oidc.ErrSignatureMultiple
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); typ != k.typ {
		return nil, errors.New("bench: wrong token type (typ)")
	}
	return k.next.VerifySignature(ctx, jws)
}

// signingKey is op.SigningKey.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

// publicKey is op.Key.
type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k publicKey) Use() string                        { return oidc.KeyUseSignature }
func (k publicKey) Key() any                           { return k.key }

// zitadelClient is op.Client for a store.Client: confidential (web),
// client_secret_basic, JWT access tokens.
type zitadelClient struct{ c *store.Client }

var _ op.Client = zitadelClient{}

func (z zitadelClient) GetID() string                        { return z.c.ID }
func (z zitadelClient) RedirectURIs() []string               { return z.c.RedirectURIs }
func (z zitadelClient) PostLogoutRedirectURIs() []string     { return nil }
func (z zitadelClient) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (z zitadelClient) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethodBasic }
func (z zitadelClient) ResponseTypes() []oidc.ResponseType   { return nil }
func (z zitadelClient) LoginURL(string) string               { return "" }
func (z zitadelClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (z zitadelClient) IDTokenLifetime() time.Duration       { return authorizetoken.DefaultIDTokenTTL }
func (z zitadelClient) DevMode() bool                        { return false }
func (z zitadelClient) IsScopeAllowed(scope string) bool     { return slices.Contains(z.c.Scopes, scope) }
func (z zitadelClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (z zitadelClient) ClockSkew() time.Duration             { return 0 }
func (z zitadelClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (z zitadelClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (z zitadelClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(z.c.GrantTypes))
	for i, g := range z.c.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

// OPStorage.

func (s *zitadelStorage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, err := s.clients.Client(ctx, clientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return zitadelClient{c}, nil
}

// AuthorizeClientIDSecret checks the secret as actas's AuthenticateClient
// does: PBKDF2 hash, constant-time compare, the same work for unknown
// clients, and the verified-secret memo.
func (s *zitadelStorage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	c, err := s.clients.Client(ctx, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	hash := s.dummyHash
	if c != nil && c.SecretHash != "" {
		hash = c.SecretHash
	}
	ok := s.secrets.Verify(hash, secret)
	if c == nil || c.SecretHash == "" || c.Disabled || !ok {
		return errClientAuth
	}
	return nil
}

func (s *zitadelStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *zitadelStorage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errNotSupported
}

func (s *zitadelStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errNotSupported
}

func (s *zitadelStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *zitadelStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotSupported
}

func (s *zitadelStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errNotSupported
}

// AuthStorage: only the token and key parts are used.

func (s *zitadelStorage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errNotSupported
}

func (s *zitadelStorage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errNotSupported
}

func (s *zitadelStorage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errNotSupported
}

func (s *zitadelStorage) SaveAuthCode(context.Context, string, string) error { return errNotSupported }

func (s *zitadelStorage) DeleteAuthRequest(context.Context, string) error { return errNotSupported }

// CreateAccessToken gives the access token its 128-bit jti and its expiry
// (one hour, as actas's default), and records the audit event, to the same
// discarding auditor as actas: nothing is issued that was not recorded.
func (s *zitadelStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	te, ok := req.(op.TokenExchangeRequest)
	if !ok {
		return "", time.Time{}, errNotSupported
	}
	sub, ok := te.GetExchangeSubjectTokenClaims()[subjectClaimsKey].(*subjectClaims)
	if !ok || sub.org == nil {
		return "", time.Time{}, oidc.ErrServerError()
	}
	now := time.Now()
	id := newID()
	err := s.auditor.Record(ctx, store.Event{
		Type: store.EventTokenExchanged, Time: now.UTC(), ClientID: te.GetClientID(),
		Impersonator: te.GetExchangeActor(), Subject: te.GetSubject(), Org: sub.org.ID,
		JTI: id, Scopes: te.GetScopes(), Outcome: store.OutcomeGranted,
	})
	if err != nil {
		return "", time.Time{}, oidc.ErrServerError().WithParent(err)
	}
	return id, now.Add(impersonation.DefaultAccessTokenTTL), nil
}

func (s *zitadelStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNotSupported
}

func (s *zitadelStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errNotSupported
}

func (s *zitadelStorage) TerminateSession(context.Context, string, string) error {
	return errNotSupported
}

func (s *zitadelStorage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrRequestNotSupported()
}

func (s *zitadelStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *zitadelStorage) SigningKey(context.Context) (op.SigningKey, error) { return s.signing, nil }

func (s *zitadelStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.signing.alg}, nil
}

// KeySet returns the keys built once in newZitadelStorage.
func (s *zitadelStorage) KeySet(context.Context) ([]op.Key, error) { return s.publicKeys, nil }

func (s *zitadelStorage) Health(context.Context) error { return nil }

// TokenExchangeTokensVerifierStorage.

// VerifyExchangeSubjectToken verifies a subject token (token type jwt) with
// zitadel's own verification steps, plus what they leave out: typ
// subject+jwt (in the key set), nbf, jti, may_act.sub and the act depth.
// The audience and client checks need the client, which this hook is not
// given; ValidateTokenExchangeRequest does them.
func (s *zitadelStorage) VerifyExchangeSubjectToken(ctx context.Context, token string, tokenType oidc.TokenType) (string, string, map[string]any, error) {
	if tokenType != oidc.JWTTokenType {
		return "", "", nil, errors.New("bench: subject_token_type must be jwt")
	}
	if len(token) > 16<<10 {
		return "", "", nil, errors.New("bench: token too large")
	}
	c := new(subjectClaims)
	payload, err := oidc.ParseToken(token, c)
	if err != nil {
		return "", "", nil, err
	}
	if err := oidc.CheckIssuerWithISSVerifier(c, op.IssuerFromContext(ctx), nil); err != nil {
		return "", "", nil, err
	}
	if err := oidc.CheckSignature(ctx, token, payload, c, s.algs, s.subjectKeys); err != nil {
		return "", "", nil, err
	}
	if err := oidc.CheckExpiration(c, 0); err != nil {
		return "", "", nil, err
	}
	if err := oidc.CheckIssuedAt(c, 0, 0); err != nil {
		return "", "", nil, err
	}
	switch {
	case !c.NotBefore.AsTime().IsZero() && time.Now().Before(c.NotBefore.AsTime()):
		return "", "", nil, errors.New("bench: subject token not yet valid")
	case c.Subject == "" || c.JWTID == "":
		return "", "", nil, errors.New("bench: subject token without sub or jti")
	case c.MayAct == nil || c.MayAct.Subject == "":
		return "", "", nil, errors.New("bench: subject token without may_act.sub")
	case actDepth(c.Actor) > claims.DefaultMaxActDepth-1:
		return "", "", nil, errors.New("bench: act chain too deep")
	}
	return c.JWTID, c.Subject, map[string]any{subjectClaimsKey: c}, nil
}

// VerifyExchangeActorToken is reached only when zitadel's own ID token
// verification failed (or the actor token is not an ID token): refuse.
func (s *zitadelStorage) VerifyExchangeActorToken(context.Context, string, oidc.TokenType) (string, string, map[string]any, error) {
	return "", "", nil, errors.New("bench: actor token must be an ID token of this issuer")
}

func actDepth(a *oidc.ActorClaims) int {
	n := 0
	for ; a != nil; a = a.Actor {
		n++
	}
	return n
}

// TokenExchangeStorage.

// ValidateTokenExchangeRequest does the checks that need the client, in
// actas's order: token types, both tokens for this client, may_act.sub is
// the actor, the policy, scope narrowing, audience and resource, and last
// the one-time use of the subject token's jti.
func (s *zitadelStorage) ValidateTokenExchangeRequest(ctx context.Context, req op.TokenExchangeRequest) error {
	clientID := req.GetClientID()
	if err := s.validate(ctx, clientID, req); err != nil {
		_ = s.auditor.Record(ctx, store.Event{
			Type: store.EventTokenExchangeDenied, Time: time.Now().UTC(), ClientID: clientID,
			Subject: req.GetExchangeSubject(), Impersonator: req.GetExchangeActor(), Outcome: store.OutcomeDenied,
		})
		return err
	}
	return nil
}

func (s *zitadelStorage) validate(ctx context.Context, clientID string, req op.TokenExchangeRequest) error {
	switch {
	case req.GetExchangeSubjectTokenType() != oidc.JWTTokenType:
		return oidc.ErrInvalidRequest().WithDescription("subject_token_type must be " + string(oidc.JWTTokenType))
	case req.GetExchangeActor() == "":
		return oidc.ErrInvalidRequest().WithDescription("actor_token is required for impersonation")
	case req.GetExchangeActorTokenType() != oidc.IDTokenType:
		return oidc.ErrInvalidRequest().WithDescription("actor_token_type must be " + string(oidc.IDTokenType))
	}
	switch req.GetRequestedTokenType() {
	case "":
		req.SetRequestedTokenType(oidc.AccessTokenType)
	case oidc.AccessTokenType:
	default:
		return oidc.ErrInvalidRequest().WithDescription("requested_token_type is not supported")
	}

	sub, ok := req.GetExchangeSubjectTokenClaims()[subjectClaimsKey].(*subjectClaims)
	if !ok {
		return errBadSubjectToken()
	}
	if !slices.Contains(sub.Audience, clientID) || sub.AuthorizedParty != clientID || sub.ClientID != clientID {
		return errBadSubjectToken()
	}
	actor := req.GetExchangeActorTokenClaims()
	if !audienceContains(actor["aud"], clientID) {
		return errBadActorToken()
	}
	if azp, ok := actor["azp"]; ok && azp != clientID {
		return errBadActorToken()
	}
	// zitadel's ID token verifier does not look at nbf.
	if nbf, ok := actor["nbf"].(float64); ok && time.Now().Unix() < int64(nbf) {
		return errBadActorToken()
	}
	if req.GetExchangeActor() != sub.MayAct.Subject {
		return errBadActorToken()
	}
	if sub.MayAct.Issuer != "" && actor["iss"] != sub.MayAct.Issuer {
		return errBadActorToken()
	}

	d, err := s.policy(ctx, clientID, req.GetExchangeActor(), sub.Subject)
	if err != nil {
		if errors.Is(err, impersonation.ErrNotPermitted) {
			return errBadSubjectToken()
		}
		return oidc.ErrServerError().WithParent(err)
	}
	if !slices.Contains(d.Client.GrantTypes, tokenexchange.GrantType) {
		return oidc.ErrUnauthorizedClient().WithDescription("the client may not use this grant type")
	}

	// Scope: a subset of the subject token's, re-applied to the subject's
	// current grants by actas's default rule.
	requested, tokenScope := claims.Scope(req.GetScopes()), claims.Scope(sub.Scope)
	if len(requested) > claims.MaxScopeTokens {
		return oidc.ErrInvalidScope().WithDescription("too many scope values")
	}
	if len(requested) > 0 && !requested.SubsetOf(tokenScope) {
		return oidc.ErrInvalidScope().WithDescription("scope exceeds the subject token's scope")
	}
	want := tokenScope
	if len(requested) > 0 {
		want = requested
	}
	grants, err := s.grants.GrantedScopes(ctx, d.Client.ID, d.Subject.ID)
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	scope, err := impersonation.DefaultScopeRule(ctx, impersonation.ScopeInput{
		Client: d.Client, Impersonator: d.Impersonator, Subject: d.Subject,
		Requested: want, SubjectGrants: grants,
	})
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	req.SetCurrentScopes(scope)

	// Audience and resource: the client or one of its registered
	// audiences. zitadel puts only the audience values into aud.
	for _, a := range slices.Concat(req.GetAudience(), req.GetResourses()) {
		if a != d.Client.ID && !slices.Contains(d.Client.Audiences, a) {
			return oidc.ErrInvalidTarget().WithDescription("the client may not ask for this audience or resource")
		}
	}

	// Last: consume the subject token.
	if !s.used.add(sub.JWTID, sub.Expiration.AsTime().Add(oneTimeSkew), time.Now()) {
		return errBadSubjectToken()
	}
	sub.org = d.Org
	return nil
}

// CreateTokenExchangeRequest: nothing to store; the audit event is written
// in CreateAccessToken, once the token ID is known.
func (s *zitadelStorage) CreateTokenExchangeRequest(context.Context, op.TokenExchangeRequest) error {
	return nil
}

// GetPrivateClaimsFromTokenExchangeRequest adds to zitadel's access token
// claims (iss, sub, aud, exp, iat, nbf, client_id, jti) what actas's carries:
// act (nesting a prior chain, RFC 8693 §4.1), scope, azp, aut and the
// organisation.
func (s *zitadelStorage) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) (map[string]any, error) {
	sub, ok := req.GetExchangeSubjectTokenClaims()[subjectClaimsKey].(*subjectClaims)
	if !ok || sub.org == nil {
		return nil, oidc.ErrServerError()
	}
	return map[string]any{
		"act":      &oidc.ActorClaims{Subject: req.GetExchangeActor(), Actor: sub.Actor},
		"scope":    strings.Join(req.GetScopes(), " "),
		"azp":      req.GetClientID(),
		"aut":      "APPLICATION_USER", // the aut claim actas writes
		"org_id":   sub.org.ID,
		"org_name": sub.org.Name,
	}, nil
}

func (s *zitadelStorage) SetUserinfoFromTokenExchangeRequest(context.Context, *oidc.UserInfo, op.TokenExchangeRequest) error {
	return errNotSupported
}

// audienceContains reports whether a generic aud claim (a string or an
// array) contains v.
func audienceContains(aud any, v string) bool {
	switch a := aud.(type) {
	case string:
		return a == v
	case []any:
		for _, x := range a {
			if x == v {
				return true
			}
		}
	}
	return false
}

// newID is a fresh 128-bit base64url identifier, like actas's jti.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// jtiSet is the zitadel side's one-time-use set: a mutex and a map of IDs
// to their expiry, swept when it has doubled (as store/memory does).
type jtiSet struct {
	mu        sync.Mutex
	m         map[string]time.Time
	nextSweep int
}

func newJTISet() *jtiSet { return &jtiSet{m: map[string]time.Time{}, nextSweep: 1024} }

// add inserts id unless it is present and unexpired; it reports whether it
// inserted.
func (s *jtiSet) add(id string, exp, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[id]; ok && now.Before(old) {
		return false
	}
	if len(s.m) >= s.nextSweep {
		for k, t := range s.m {
			if !now.Before(t) {
				delete(s.m, k)
			}
		}
		s.nextSweep = max(2*len(s.m), 1024)
	}
	s.m[id] = exp
	return true
}
