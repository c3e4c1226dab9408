package impersonation_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// otherSubjectDesc is what the client is told when an impersonator inside
// an impersonation session of bob asks to impersonate someone else.
const otherSubjectDesc = "you are impersonating bob in this session: end that impersonation before impersonating another user"

// TestAuthorize_OneSubjectPerSession: inside an impersonation session of
// bob, Authorize refuses to impersonate carol (invalid_request, with a
// description that says what to do, recorded, nothing issued, nobody
// told); bob again is fine, and outside the session the rule does not
// apply.
func TestAuthorize_OneSubjectPerSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.startSession(t, sessReason)
	inSession := impersonation.Login{UserID: "alice", AuthTime: f.clock.Now(), Session: sessLogin}
	n, notices := len(f.db.Events()), len(f.db.Notices())

	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "carol")), inSession)
	assert.Nil(t, resp, "nothing issued")
	var wire *subjecttoken.Error
	require.ErrorAs(t, err, &wire)
	assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, wire.Code)
	assert.Equal(t, otherSubjectDesc, wire.Description)
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationDenied, store.OutcomeDenied,
		"another impersonation session is active (bob)")
	assert.Equal(t, "carol", e.Subject)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, appID, e.ClientID)
	assert.Len(t, f.db.Notices(), notices, "carol is not told: nothing happened to her")

	active := f.activeSession(t)
	require.NotNil(t, active, "the session goes on")
	assert.Equal(t, "bob", active.Subject)

	resp, err = f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), inSession)
	require.NoError(t, err, "the session's own user again")
	assert.NotEmpty(t, resp.SubjectToken)

	resp, err = f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "carol")),
		impersonation.Login{UserID: "alice", AuthTime: f.clock.Now(), Session: "another-login-session"})
	require.NoError(t, err, "another login session is not impersonating")
	assert.NotEmpty(t, resp.SubjectToken)
}

// TestAuthorizeHandler_OneSubjectPerSession: the handler refuses the
// other user before it asks for consent: the impersonator is never shown a
// consent page for an impersonation that cannot happen.
func TestAuthorizeHandler_OneSubjectPerSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.startSession(t, sessReason)
	consent := &ahConsent{outcome: impersonation.ConsentGranted}
	h := authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now(), session: sessLogin}, impersonation.WithConsent(consent.ask))
	n := len(f.db.Events())

	w := ahServe(h, http.MethodGet, authorizeValues(appID, "carol"))
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	assert.Equal(t, appRedirect, got.base)
	assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, got.params.Get("error"))
	assert.Equal(t, otherSubjectDesc, got.params.Get("error_description"))
	assert.Empty(t, got.params.Get("subject_token"))
	assert.Empty(t, got.params.Get("id_token"))
	calls, _, _ := consent.seen()
	assert.Zero(t, calls, "no consent page")
	testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationDenied, store.OutcomeDenied,
		"another impersonation session is active (bob)")
}
