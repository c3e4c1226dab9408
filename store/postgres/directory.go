package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/actas/actas/store"
)

// Client implements [store.Clients]. Each call returns a fresh value.
func (s *Store) Client(ctx context.Context, id string) (*store.Client, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: client: %w", err)
	}
	var c store.Client
	err = s.pool.QueryRow(ctx, s.q.client, id).Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.Scopes,
		&c.GrantTypes, &c.Disabled, &c.Impersonation, &c.ResponseModes, &c.Audiences, &c.SubjectTokenTTL, &c.AccessTokenTTL, &c.RefreshTokens,
		&c.PostLogoutRedirectURIs, &c.SkipLogoutConsent, &c.ReasonRequired, &c.RequireSubjectGrant)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: client: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: client: %w", err)
	}
	return &c, nil
}

// User implements [store.Users].
func (s *Store) User(ctx context.Context, id string) (*store.User, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: user: %w", err)
	}
	var u store.User
	err = s.pool.QueryRow(ctx, s.q.user, id).Scan(&u.ID, &u.Username, &u.Name, &u.Email, &u.Org, &u.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: user: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: user: %w", err)
	}
	return &u, nil
}

// Organization implements [store.Organizations].
func (s *Store) Organization(ctx context.Context, id string) (*store.Organization, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: organisation: %w", err)
	}
	var o store.Organization
	err = s.pool.QueryRow(ctx, s.q.organization, id).Scan(&o.ID, &o.Name, &o.Parent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: organisation: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: organisation: %w", err)
	}
	return &o, nil
}

// GrantedScopes implements [store.Grants]: the union of the scopes of the
// user's roles for clientID, sorted; nil when there are none.
func (s *Store) GrantedScopes(ctx context.Context, clientID, userID string) ([]string, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("postgres: granted scopes: %w", err)
	}
	rows, err := s.pool.Query(ctx, s.q.grantedScopes, clientID, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: granted scopes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sc string
		if err := rows.Scan(&sc); err != nil {
			return nil, fmt.Errorf("postgres: granted scopes: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: granted scopes: %w", err)
	}
	return out, nil
}

// PutClient adds or replaces a client. Nil and empty lists are kept apart.
func (s *Store) PutClient(ctx context.Context, c store.Client) error {
	if c.ID == "" {
		return errors.New("postgres: client without ID")
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put client %q: %w", c.ID, err)
	}
	_, err = s.pool.Exec(ctx, s.q.putClient, c.ID, c.Name, c.SecretHash, c.RedirectURIs, c.Scopes, c.GrantTypes,
		c.Disabled, c.Impersonation, c.ResponseModes, c.Audiences, c.SubjectTokenTTL, c.AccessTokenTTL, c.RefreshTokens,
		c.PostLogoutRedirectURIs, c.SkipLogoutConsent, c.ReasonRequired, c.RequireSubjectGrant)
	if err != nil {
		return fmt.Errorf("postgres: put client %q: %w", c.ID, err)
	}
	return nil
}

// PutUser adds or replaces a user. Its organisation must exist (an error
// wrapping [store.ErrNotFound] otherwise), and a non-empty username must not
// belong to another user.
func (s *Store) PutUser(ctx context.Context, u store.User) error {
	if u.ID == "" {
		return errors.New("postgres: user without ID")
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put user %q: %w", u.ID, err)
	}
	_, err = s.pool.Exec(ctx, s.q.putUser, u.ID, u.Username, u.Name, u.Email, u.Org, u.Disabled)
	switch pgCode(err) {
	case "":
	case codeForeignKeyViolation:
		return fmt.Errorf("postgres: user %q: organisation %q: %w", u.ID, u.Org, store.ErrNotFound)
	case codeUniqueViolation:
		return fmt.Errorf("postgres: user %q: username %q belongs to another user", u.ID, u.Username)
	}
	if err != nil {
		return fmt.Errorf("postgres: put user %q: %w", u.ID, err)
	}
	return nil
}

// errOrgCycle is returned when an organisation would become its own
// ancestor.
var errOrgCycle = errors.New("parent cycle")

// PutOrganization adds or replaces an organisation. Its parent, when set,
// must exist (an error wrapping [store.ErrNotFound] otherwise), and it must
// not become its own ancestor. Organisation writes take a transaction-scoped
// advisory lock, so two concurrent puts cannot build a cycle between them.
func (s *Store) PutOrganization(ctx context.Context, o store.Organization) error {
	if o.ID == "" {
		return errors.New("postgres: organisation without ID")
	}
	if o.Parent == o.ID {
		return fmt.Errorf("postgres: organisation %q: %w", o.ID, errOrgCycle)
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put organisation %q: %w", o.ID, err)
	}
	var parent *string
	if o.Parent != "" {
		parent = &o.Parent
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey("organizations")); err != nil {
			return err
		}
		if parent != nil {
			var exists, cycle bool
			if err := tx.QueryRow(ctx, s.q.orgAncestry, o.Parent, o.ID).Scan(&exists, &cycle); err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("parent %q: %w", o.Parent, store.ErrNotFound)
			}
			if cycle {
				return errOrgCycle
			}
		}
		_, err := tx.Exec(ctx, s.q.putOrganization, o.ID, o.Name, parent)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put organisation %q: %w", o.ID, err)
	}
	return nil
}

// PutRole adds or replaces a role: its scopes and its users are replaced
// together, in one transaction. Its client must exist (an error wrapping
// [store.ErrNotFound] otherwise); its users need not.
func (s *Store) PutRole(ctx context.Context, r store.Role) error {
	if r.Name == "" || r.ClientID == "" {
		return errors.New("postgres: role needs a name and a client")
	}
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: put role %q: %w", r.Name, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.q.putRole, r.ClientID, r.Name, r.Scopes); err != nil {
			if pgCode(err) == codeForeignKeyViolation {
				return fmt.Errorf("client %q: %w", r.ClientID, store.ErrNotFound)
			}
			return err
		}
		if _, err := tx.Exec(ctx, s.q.clearRoleUsers, r.ClientID, r.Name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.q.addRoleUsers, r.ClientID, r.Name, r.Users)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put role %q: %w", r.Name, err)
	}
	return nil
}
