package impersonation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// ErrNotPermitted is matched (errors.Is) by every policy refusal; the
// *[DeniedError] says which rule refused.
var ErrNotPermitted = errors.New("impersonation: not permitted")

// Reason names the policy rule that refused an impersonation. It goes to
// the audit log, never to the client.
type Reason string

// Reasons of a [DeniedError].
const (
	ReasonUnknownClient         Reason = "client_unknown"
	ReasonClientDisabled        Reason = "client_disabled"
	ReasonImpersonationDisabled Reason = "client_impersonation_disabled"
	// ReasonClientNotAuthorized: the client has impersonation on but is
	// not authorized for the User Impersonation API (its Scopes lack
	// internal_user_impersonate), the flow's step 1.1.
	ReasonClientNotAuthorized  Reason = "client_not_authorized_for_impersonation"
	ReasonUnknownImpersonator  Reason = "impersonator_unknown"
	ReasonImpersonatorDisabled Reason = "impersonator_disabled"
	ReasonNoRole               Reason = "impersonator_lacks_role"
	ReasonUnknownSubject       Reason = "subject_unknown"
	ReasonSubjectDisabled      Reason = "subject_disabled"
	ReasonOutsideOrganization  Reason = "subject_outside_organization"
	ReasonSelf                 Reason = "self_impersonation"
	ReasonProtected            Reason = "subject_protected"
	ReasonRateLimited          Reason = "rate_limited"
	// ReasonMissingReason: the impersonator gave no reason where one is
	// required (WithReason, store.Client.ReasonRequired).
	ReasonMissingReason Reason = "reason_missing"
)

// DeniedError is a policy refusal.
type DeniedError struct {
	Reason Reason
}

func (e *DeniedError) Error() string { return "impersonation: not permitted: " + string(e.Reason) }

// Is makes errors.Is(err, ErrNotPermitted) true.
func (e *DeniedError) Is(target error) bool { return target == ErrNotPermitted }

func deny(r Reason) error { return &DeniedError{Reason: r} }

// maxOrgDepth bounds the walk up the organisation tree, so a cycle in a
// host's data cannot loop forever.
const maxOrgDepth = 64

// Decision is a granted impersonation: who, whom, through which client.
type Decision struct {
	Client       *store.Client
	Impersonator *store.User
	Subject      *store.User
	// Org is the subject's organisation; nil WithoutOrganizations.
	Org *store.Organization
	// Grant is the subject's grant the impersonation relies on, for a
	// client that requires one (store.Client.RequireSubjectGrant); nil
	// otherwise.
	Grant *store.SubjectGrant

	// subjectGrants are the scopes the subject's roles grant for Client,
	// when the decision already read them (the default protected check
	// does); nil when not read yet.
	subjectGrants []string
}

// grantsOf returns the scopes d's subject holds for d's client, reading
// them only if the decision has not.
func (s *Service) grantsOf(ctx context.Context, d *Decision) ([]string, error) {
	if d.subjectGrants != nil {
		return d.subjectGrants, nil
	}
	return s.stores.Grants.GrantedScopes(ctx, d.Client.ID, d.Subject.ID)
}

// Decide applies the impersonation policy: the client exists, is enabled,
// has impersonation on and is authorized for the User Impersonation API
// (internal_user_impersonate among its Scopes); the impersonator exists, is enabled and holds a
// role for this client granting internal_user_impersonate; the subject
// exists, is enabled, is not the impersonator, belongs to the
// impersonator's organisation or one of its descendants, is not
// protected, and, for a client that requires it, has given a live grant
// (see Grants). A refusal is a *DeniedError (errors.Is ErrNotPermitted); any
// other error is a store failure.
func (s *Service) Decide(ctx context.Context, clientID, impersonatorID, subjectID string) (*Decision, error) {
	client, err := s.stores.Clients.Client(ctx, clientID)
	if err != nil {
		return nil, notFoundAs(err, ReasonUnknownClient)
	}
	return s.decide(ctx, client, impersonatorID, subjectID)
}

// decide is Decide for a client already looked up.
func (s *Service) decide(ctx context.Context, client *store.Client, impersonatorID, subjectID string) (*Decision, error) {
	switch {
	case client.Disabled:
		return nil, deny(ReasonClientDisabled)
	case !client.Impersonation:
		return nil, deny(ReasonImpersonationDisabled)
	case !apiAuthorized(client):
		return nil, deny(ReasonClientNotAuthorized)
	}
	imp, err := s.stores.Users.User(ctx, impersonatorID)
	if err != nil {
		return nil, notFoundAs(err, ReasonUnknownImpersonator)
	}
	if imp.Disabled {
		return nil, deny(ReasonImpersonatorDisabled)
	}
	granted, err := s.stores.Grants.GrantedScopes(ctx, client.ID, imp.ID)
	if err != nil {
		return nil, fmt.Errorf("impersonation: grants: %w", err)
	}
	if !slices.Contains(granted, subjecttoken.ScopeImpersonate) {
		return nil, deny(ReasonNoRole)
	}
	if subjectID == imp.ID {
		return nil, deny(ReasonSelf)
	}
	sub, err := s.stores.Users.User(ctx, subjectID)
	if err != nil {
		return nil, notFoundAs(err, ReasonUnknownSubject)
	}
	if sub.ID == imp.ID {
		// The store resolved the requested subject to the impersonator
		// (an alias, a case-insensitive ID): still self-impersonation.
		return nil, deny(ReasonSelf)
	}
	if sub.Disabled {
		return nil, deny(ReasonSubjectDisabled)
	}
	var org *store.Organization
	if !s.flat {
		if org, err = s.covers(ctx, imp.Org, sub.Org); err != nil {
			return nil, err
		}
	}
	d := &Decision{Client: client, Impersonator: imp, Subject: sub, Org: org}
	var protected bool
	if s.protected == nil {
		// The default: whoever may impersonate through the client is
		// protected. The subject's grants, read here, serve the scope
		// rule later too.
		grants, err := s.stores.Grants.GrantedScopes(ctx, client.ID, sub.ID)
		if err != nil {
			return nil, fmt.Errorf("impersonation: protected check: %w", err)
		}
		protected, d.subjectGrants = slices.Contains(grants, subjecttoken.ScopeImpersonate), append([]string{}, grants...)
	} else if protected, err = s.protected(ctx, client, sub); err != nil {
		return nil, fmt.Errorf("impersonation: protected check: %w", err)
	}
	if protected {
		return nil, deny(ReasonProtected)
	}
	if client.RequireSubjectGrant {
		if d.Grant, err = s.subjectGrant(ctx, client, imp, sub); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// apiAuthorized reports whether c is authorized for the User
// Impersonation API: internal_user_impersonate is among the scopes it may
// ask for. The switch (Client.Impersonation) alone is not enough, as in the
// flow's reference document, where an application must be authorized for
// the API (step 1.1) before it may impersonate.
func apiAuthorized(c *store.Client) bool {
	return slices.Contains(c.Scopes, subjecttoken.ScopeImpersonate)
}

// clientLevel reports whether a refusal is about the client alone, which
// the wire reports as unauthorized_client rather than access_denied.
func clientLevel(r Reason) bool { return r == ReasonClientNotAuthorized }

// covers checks that org is ancestor or the same as subjectOrg and returns
// the subject's organisation.
func (s *Service) covers(ctx context.Context, ancestor, subjectOrg string) (*store.Organization, error) {
	if ancestor == "" || subjectOrg == "" {
		return nil, deny(ReasonOutsideOrganization)
	}
	var own *store.Organization
	id := subjectOrg
	for range maxOrgDepth {
		o, err := s.stores.Organizations.Organization(ctx, id)
		if err != nil {
			return nil, notFoundAs(err, ReasonOutsideOrganization)
		}
		if own == nil {
			own = o
		}
		if o.ID == ancestor {
			return own, nil
		}
		if o.Parent == "" {
			break
		}
		id = o.Parent
	}
	return nil, deny(ReasonOutsideOrganization)
}

// notFoundAs turns a store.ErrNotFound into a denial and wraps any other
// store error.
func notFoundAs(err error, r Reason) error {
	if errors.Is(err, store.ErrNotFound) {
		return deny(r)
	}
	return fmt.Errorf("impersonation: store: %w", err)
}
