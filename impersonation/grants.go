package impersonation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/store"
)

// Access the impersonated user gives. A client with
// store.Client.RequireSubjectGrant may impersonate a user only under a
// live grant of that user's (Grants.Give): for the client's impersonators
// or one of them, for a duration the user chooses, revocable at any time.
// Every token of such an impersonation carries the grant's ID (sgid) and
// lives no longer than the grant; revoking the grant revokes them, and the
// impersonation sessions that relied on it end at their next use.

// Reasons of a refusal for want of a grant.
const (
	ReasonSubjectGrantMissing Reason = "subject_grant_missing"
	ReasonSubjectGrantExpired Reason = "subject_grant_expired"
	ReasonSubjectGrantRevoked Reason = "subject_grant_revoked"
)

// Grant defaults.
const (
	// DefaultGrantMaxDuration is the longest grant a user may give unless
	// GrantConfig says otherwise: a week.
	DefaultGrantMaxDuration = 7 * 24 * time.Hour
	// ClaimSubjectGrant names the grant in the tokens that rely on it.
	ClaimSubjectGrant = "sgid"
)

// grantLookback is how long after its expiry a grant still explains a
// refusal as subject_grant_expired or _revoked rather than _missing.
const grantLookback = 24 * time.Hour

// GrantConfig configures subject grants ([WithSubjectGrants]). The zero
// value is the defaults.
type GrantConfig struct {
	// MaxDuration is the longest grant a user may give; zero means
	// DefaultGrantMaxDuration, at most claims.MaxTokenAge.
	MaxDuration time.Duration
}

// WithSubjectGrants enables subject grants, through g (from
// [NewGrants]), which the Service then uses for its policy and binds to
// itself: one Grants serves one Service. It needs a revocation store
// (WithRevocationStore or WithSessions), through which revoking a grant
// revokes the tokens that rely on it.
func WithSubjectGrants(g *Grants) Option {
	return func(s *Service) { s.grants, s.grantsSet = g, true }
}

// Grants are the access users give to be impersonated: build them with
// [NewGrants], hand them to [New] WithSubjectGrants, and call them for the
// signed-in user (Give, Revoke, Of). They are safe for concurrent use. A
// Grants no Service was built with, and a nil *Grants, refuse every call.
type Grants struct {
	svc   *Service
	store store.SubjectGrants
	max   time.Duration
}

// errGrantsOff: a method of a nil *Grants, or of one no Service uses.
var errGrantsOff = errors.New("impersonation: subject grants are off (no Service built WithSubjectGrants with them)")

// NewGrants returns the subject grants kept in st, for [WithSubjectGrants].
func NewGrants(st store.SubjectGrants, cfg GrantConfig) (*Grants, error) {
	g := &Grants{store: st, max: cfg.MaxDuration}
	if g.max == 0 {
		g.max = DefaultGrantMaxDuration
	}
	switch {
	case st == nil:
		return nil, errors.New("impersonation: NewGrants needs a store")
	case g.max < 0 || g.max > claims.MaxTokenAge:
		return nil, fmt.Errorf("impersonation: the longest grant must be positive and at most %v", claims.MaxTokenAge)
	}
	return g, nil
}

// bind makes g the grants of svc, once svc's revocation store is known.
func (g *Grants) bind(svc *Service) error {
	switch {
	case g == nil:
		return errors.New("impersonation: WithSubjectGrants needs the Grants of NewGrants")
	case g.svc != nil:
		return errors.New("impersonation: these Grants serve another Service already")
	case svc.revocation == nil:
		return errors.New("impersonation: WithSubjectGrants needs a revocation store (WithRevocationStore or WithSessions)")
	}
	g.svc = svc
	return nil
}

// off reports whether g may not be called.
func (g *Grants) off() bool { return g == nil || g.svc == nil }

// MaxDuration is the longest grant a user may give.
func (g *Grants) MaxDuration() time.Duration {
	if g == nil {
		return 0
	}
	return g.max
}

// Give records that subject lets clientID's impersonators (only
// impersonator, when not empty) impersonate them for d, at most
// MaxDuration, and returns the grant. The subject and a named impersonator
// must be enabled users, the client an enabled client with impersonation
// on. It is recorded as store.EventSubjectGrantCreated; a grant that could
// not be recorded is revoked again and the error returned.
func (g *Grants) Give(ctx context.Context, subject, clientID, impersonator string, d time.Duration) (*store.SubjectGrant, error) {
	if g.off() {
		return nil, errGrantsOff
	}
	s := g.svc
	if d <= 0 || d > g.max {
		return nil, fmt.Errorf("impersonation: a grant lasts more than nothing and at most %v", g.max)
	}
	sub, err := s.enabledUser(ctx, subject)
	if err != nil {
		return nil, err
	}
	if impersonator != "" {
		if impersonator == subject {
			return nil, errors.New("impersonation: a user cannot grant access to themselves")
		}
		if _, err := s.enabledUser(ctx, impersonator); err != nil {
			return nil, err
		}
	}
	c, err := s.stores.Clients.Client(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("impersonation: grant: unknown client %q", clientID)
	case err != nil:
		return nil, fmt.Errorf("impersonation: grant: %w", err)
	case c.Disabled || !c.Impersonation:
		return nil, fmt.Errorf("impersonation: grant: client %q does not impersonate", clientID)
	}
	now := s.now().UTC()
	grant := store.SubjectGrant{
		ID: jose.NewID(), Subject: sub.ID, ClientID: c.ID, Impersonator: impersonator,
		Created: now, Expires: now.Add(d),
	}
	if err := g.store.PutSubjectGrant(ctx, grant); err != nil {
		return nil, fmt.Errorf("impersonation: grant: %w", err)
	}
	ev := grantEvent(store.EventSubjectGrantCreated, &grant, sub.Org)
	ev.Reason = "until " + grant.Expires.Format(time.RFC3339)
	if err := s.record(ctx, ev); err != nil {
		// Nothing is given that was not recorded.
		_, _ = g.store.RevokeSubjectGrant(ctx, grant.Subject, grant.ID, now)
		return nil, err
	}
	return &grant, nil
}

// Revoke revokes the grant id of subject: the impersonations that rely on
// it end (their tokens are revoked now; a session ends at its next use),
// recorded as store.EventSubjectGrantRevoked. A grant of another subject,
// or none, is an error matching store.ErrNotFound; revoking a grant again
// changes nothing and records nothing.
func (g *Grants) Revoke(ctx context.Context, subject, id string) error {
	if g.off() {
		return errGrantsOff
	}
	s := g.svc
	now := s.now().UTC()
	before, err := g.store.SubjectGrantsOf(ctx, subject, time.Time{})
	if err != nil {
		return fmt.Errorf("impersonation: revoke grant: %w", err)
	}
	i := slices.IndexFunc(before, func(g store.SubjectGrant) bool { return g.ID == id })
	if i < 0 {
		return fmt.Errorf("impersonation: revoke grant: %w", store.ErrNotFound)
	}
	first := before[i].Revoked.IsZero()
	// The tokens first, so that a failure here leaves the grant to revoke
	// again, and recorded then. Tokens that rely on it live no longer
	// than it (plus any verifier's skew): hold the revocation that long.
	if err := s.revocation.Revoke(ctx, accesstoken.GrantRevocationKey(id), before[i].Expires.Add(claims.MaxSkew)); err != nil {
		return fmt.Errorf("impersonation: revoke grant: %w", err)
	}
	grant, err := g.store.RevokeSubjectGrant(ctx, subject, id, now)
	if err != nil {
		return fmt.Errorf("impersonation: revoke grant: %w", err)
	}
	if !first {
		return nil // revoked before
	}
	org := ""
	if u, err := s.stores.Users.User(ctx, subject); err == nil {
		org = u.Org
	}
	return s.record(ctx, grantEvent(store.EventSubjectGrantRevoked, grant, org))
}

// Of returns subject's grants, live and recently ended, newest first.
func (g *Grants) Of(ctx context.Context, subject string) ([]store.SubjectGrant, error) {
	if g.off() {
		return nil, errGrantsOff
	}
	return g.store.SubjectGrantsOf(ctx, subject, g.svc.now().Add(-grantLookback))
}

func grantEvent(typ store.EventType, g *store.SubjectGrant, org string) store.Event {
	return store.Event{
		Type: typ, ClientID: g.ClientID, Subject: g.Subject, Impersonator: g.Impersonator,
		Org: org, JTI: g.ID, Outcome: store.OutcomeGranted,
	}
}

// enabledUser returns the enabled user id.
func (s *Service) enabledUser(ctx context.Context, id string) (*store.User, error) {
	u, err := s.stores.Users.User(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("impersonation: grant: unknown user %q", id)
	case err != nil:
		return nil, fmt.Errorf("impersonation: grant: %w", err)
	case u.Disabled:
		return nil, fmt.Errorf("impersonation: grant: user %q is disabled", id)
	}
	return u, nil
}

// subjectGrant is the policy's grant rule for a client that requires
// one: the live grant of sub that lets imp impersonate through c (the
// one that lasts longest), or a refusal saying why there is none.
func (s *Service) subjectGrant(ctx context.Context, c *store.Client, imp, sub *store.User) (*store.SubjectGrant, error) {
	if s.grants == nil {
		return nil, fmt.Errorf("%w: client %q requires subject grants, and the Service has none (WithSubjectGrants)", ErrConfiguration, c.ID)
	}
	now := s.now()
	all, err := s.grants.store.SubjectGrantsOf(ctx, sub.ID, now.Add(-grantLookback))
	if err != nil {
		return nil, fmt.Errorf("impersonation: subject grants: %w", err)
	}
	all = slices.DeleteFunc(all, func(g store.SubjectGrant) bool {
		return g.ClientID != c.ID || (g.Impersonator != "" && g.Impersonator != imp.ID)
	})
	var live *store.SubjectGrant
	for i := range all {
		if all[i].Live(now) && (live == nil || all[i].Expires.After(live.Expires)) {
			live = &all[i]
		}
	}
	switch {
	case live != nil:
		return live, nil
	case len(all) == 0:
		return nil, deny(ReasonSubjectGrantMissing)
	case !all[0].Revoked.IsZero():
		return nil, deny(ReasonSubjectGrantRevoked) // the newest one was revoked
	}
	return nil, deny(ReasonSubjectGrantExpired)
}

// grantStillLive refuses, at the last moment before tokens that rely on
// d's grant are handed out, a grant revoked since the policy read it: once
// Grants.Revoke has returned, nothing more is issued under the grant.
func (s *Service) grantStillLive(ctx context.Context, d *Decision) error {
	if d == nil || d.Grant == nil {
		return nil
	}
	revoked, err := s.revocation.Revoked(ctx, accesstoken.GrantRevocationKey(d.Grant.ID))
	switch {
	case err != nil:
		return fmt.Errorf("impersonation: subject grant: %w", err)
	case revoked:
		return deny(ReasonSubjectGrantRevoked)
	}
	return nil
}

// untilGrant caps ttl so that what it is the lifetime of ends with d's
// grant, if any. Less than a second left is subject_grant_expired: a
// token lives whole seconds, and none may outlive the grant.
func (s *Service) untilGrant(d *Decision, ttl time.Duration) (time.Duration, error) {
	if d == nil || d.Grant == nil {
		return ttl, nil
	}
	left := d.Grant.Expires.Sub(s.now()).Truncate(time.Second)
	if left < time.Second {
		return 0, deny(ReasonSubjectGrantExpired)
	}
	return min(ttl, left), nil
}
