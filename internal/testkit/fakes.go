package testkit

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// SwitchAuditor records to Next until Fail is set, then refuses every
// event with ErrAuditDown: a hand-written failing audit sink.
type SwitchAuditor struct {
	Next store.Auditor
	Fail atomic.Bool
}

var _ store.Auditor = (*SwitchAuditor)(nil)

// ErrAuditDown is what a failing audit sink says; it must never reach a
// client.
var ErrAuditDown = errors.New("audit sink: disk full on /var/log/actas-audit")

// Record implements store.Auditor.
func (a *SwitchAuditor) Record(ctx context.Context, e store.Event) error {
	if a.Fail.Load() {
		return ErrAuditDown
	}
	return a.Next.Record(ctx, e)
}

// internalMarkers are fragments of internal error text (package prefixes,
// store messages, audit reasons) that must never reach a client.
var internalMarkers = []string{
	"subjecttoken:", "claims:", "jose:", "memory:", "impersonation:", "resource:", "store:",
	"policy:", "subject token:", "actor token:", "already used", "audit sink", "disk full",
}

// AssertNoLeak checks that a response body holds none of the secrets
// given nor any internal error text.
func AssertNoLeak(t testing.TB, body string, secretsInRequest ...string) {
	t.Helper()
	for _, s := range secretsInRequest {
		if s != "" {
			assert.NotContains(t, body, s, "response echoes request content")
		}
	}
	for _, m := range internalMarkers {
		assert.NotContains(t, body, m, "response leaks internal error text")
	}
}

// EventsSince returns the audit events after the first n of events.
func EventsSince(events []store.Event, n int) []store.Event {
	if n > len(events) {
		return nil
	}
	return events[n:]
}

// CountEvents counts the events of type typ.
func CountEvents(events []store.Event, typ store.EventType) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// RequireOneEvent requires exactly one event in events and checks its
// type, outcome and reason (reasonContains, when not empty, must be in
// it), and that its time is set and in UTC.
func RequireOneEvent(t testing.TB, events []store.Event, typ store.EventType, outcome, reasonContains string) store.Event {
	t.Helper()
	require.Len(t, events, 1, "events: %+v", events)
	e := events[0]
	assert.Equal(t, typ, e.Type)
	assert.Equal(t, outcome, e.Outcome)
	if reasonContains != "" {
		assert.Contains(t, e.Reason, reasonContains)
	}
	assert.False(t, e.Time.IsZero(), "event time")
	assert.Equal(t, time.UTC, e.Time.Location(), "event time is UTC")
	return e
}

// JWKSHandler serves the public keys of keys as a JWK Set, as the issuer's
// JWKS endpoint does.
func JWKSHandler(keys store.KeySet) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub, err := keys.PublicKeys(r.Context())
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		body, err := store.MarshalJWKS(pub)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}
