package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// Example wires a Store at start-up: one pool, New, Migrate, then the
// Store is passed wherever the library wants one of the store interfaces.
// It has no checked output because it needs a live database; the tests
// cover the same calls.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://actas@db.internal:5432/idp")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	s, err := postgres.New(pool, postgres.WithTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil { // harmless when already applied
		log.Fatal(err)
	}

	var (
		_ store.OneTimeUse = s // subject tokens used once across all instances
		_ store.Revocation = s
		_ store.Auditor    = s
		_ store.AuditLog   = s // the audit page's query
	)

	switch err := s.Use(ctx, "subject-token-jti", time.Now().Add(3*time.Minute)); {
	case err == nil:
		fmt.Println("first use")
	case errors.Is(err, store.ErrAlreadyUsed):
		fmt.Println("replay")
	default:
		fmt.Println("refuse: store unavailable") // fail closed
	}

	events, err := s.QueryEvents(ctx, store.AuditQuery{
		User: "bob",
		From: time.Now().Add(-24 * time.Hour),
		To:   time.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		fmt.Println(e.Time.Format(time.RFC3339), e.Type, e.Impersonator, "as", e.Subject)
	}
}
