package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/store/storetest"
)

// directory gives memory.Store's writers the context the conformance
// suite passes.
type directory struct{ *memory.Store }

func (d directory) PutOrganization(_ context.Context, o store.Organization) error {
	return d.Store.PutOrganization(o)
}
func (d directory) PutUser(_ context.Context, u store.User) error     { return d.Store.PutUser(u) }
func (d directory) PutClient(_ context.Context, c store.Client) error { return d.Store.PutClient(c) }
func (d directory) PutRole(_ context.Context, r store.Role) error     { return d.Store.PutRole(r) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Instance {
		clk, s := clockedStore()
		return storetest.Instance{
			Stores: storetest.Stores{
				OneTimeUse: s, Revocation: s, RateLimiter: s, Auditor: s, AuditLog: s,
				Directory: directory{s}, Sessions: s, SubjectGrants: s,
			},
			Advance: func(d time.Duration) { clk.Advance(d) },
			Now:     clk.Now,
		}
	})
}
