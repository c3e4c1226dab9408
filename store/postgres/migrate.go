package postgres

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded SQL file, NNNN_name.sql.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		digits, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql", name)
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// Migrate creates the schema and its tables, or brings them up to date. It
// applies each embedded migration (migrations/NNNN_name.sql) that the
// schema's schema_migrations table does not list, each in its own
// transaction together with its schema_migrations row, so a migration is
// either wholly applied and recorded or not at all. A transaction-scoped
// advisory lock per schema serialises Migrate calls from any number of
// instances; running it again, or at the same time from several, is
// harmless. Versions recorded by a newer release are left alone.
//
// Migrate is bounded by ctx only, not by [WithTimeout]: a migration over a
// large table may legitimately take long.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("postgres: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// apply runs m unless it was applied before.
func (s *Store) apply(ctx context.Context, m migration) error {
	quoted := pgx.Identifier{s.schema}.Sanitize()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey("migrate")); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.q.migrationsTable).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			// Create the schema only when it is missing: CREATE SCHEMA
			// IF NOT EXISTS needs the CREATE privilege on the database
			// even when the schema is there.
			var schemaExists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&schemaExists); err != nil {
				return err
			}
			if !schemaExists {
				if _, err := tx.Exec(ctx, `CREATE SCHEMA `+quoted); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE `+s.q.migrationsTable+` (
	version    bigint PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
				return err
			}
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.q.migrationsTable+` WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+quoted); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+s.q.migrationsTable+` (version) VALUES ($1)`, m.version)
		return err
	})
}
