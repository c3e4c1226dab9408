// Package storetest is the conformance suite for implementations of the
// store interfaces: store/memory runs it, the Redis and PostgreSQL
// adapters run it against real servers, and a host that writes its own
// store runs it too:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Instance {
//			s := mystore.New(...) // fresh and empty for each call
//			return storetest.Instance{Stores: storetest.Stores{OneTimeUse: s, Revocation: s}}
//		})
//	}
//
// Each property is a subtest; interfaces left nil in [Stores] are skipped.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/actas/actas/store"
)

// Stores are the implementations under test. Nil fields are skipped.
type Stores struct {
	OneTimeUse  store.OneTimeUse
	Revocation  store.Revocation
	RateLimiter store.RateLimiter
	Auditor     store.Auditor
	// AuditLog must read back what Auditor recorded.
	AuditLog      store.AuditLog
	Directory     Directory
	Sessions      store.Sessions
	SubjectGrants store.SubjectGrants
}

// Directory is a store of clients, users, organisations and role grants
// that the suite can seed.
type Directory interface {
	store.Clients
	store.Users
	store.Organizations
	store.Grants
	PutOrganization(ctx context.Context, o store.Organization) error
	PutUser(ctx context.Context, u store.User) error
	PutClient(ctx context.Context, c store.Client) error
	PutRole(ctx context.Context, r store.Role) error
}

// Instance is one fresh, empty set of stores, isolated from every other
// Instance (its own key prefix, schema or tables).
type Instance struct {
	Stores
	// Advance moves the stores' clock forward by d, for expiry tests.
	// Nil means the stores run on real time: the suite then uses short
	// real lifetimes and waits (bounded) for them to pass.
	Advance func(d time.Duration)
	// Now is the stores' current time; nil means time.Now.
	Now func() time.Time
}

// Harness returns a fresh Instance for one subtest.
type Harness func(t *testing.T) Instance
