package postgres_test

import (
	"testing"

	"github.com/actas/actas/store/postgres"
	"github.com/actas/actas/store/storetest"
)

// TestConformance runs the store conformance suite against PostgreSQL:
// every subtest gets its own schema and an injected clock.
func TestConformance(t *testing.T) {
	pool := connect(t)
	storetest.Run(t, func(t *testing.T) storetest.Instance {
		c := newClock()
		s := newStore(t, pool, postgres.WithClock(c.Now))
		return storetest.Instance{
			Stores: storetest.Stores{
				OneTimeUse: s, Revocation: s, RateLimiter: s,
				Auditor: s, AuditLog: s, Directory: s, Sessions: s, SubjectGrants: s,
			},
			Advance: c.Advance,
			Now:     c.Now,
		}
	})
}
