package impersonation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The one rule (DESIGN.md): every token that speaks for another user
// passes the policy gate for the client that receives it. The tests here
// list every entry point of the Service that issues such a token, deny the
// policy for the receiving client in each way the policy knows, and
// require each entry point to refuse with its wire code and an audit event
// naming that client and the rule, issuing nothing.

// gateClient receives the tokens in every case: the session fixture lets
// alice impersonate through it (and the session starts through app).
const gateClient = app2ID

// gateDenial is a change of the policy that refuses alice's impersonation
// of bob for the receiving client, and the rule that must be named.
type gateDenial struct {
	name   string
	apply  func(t *testing.T, f *fixture)
	reason impersonation.Reason
	// exchangeCode is the token exchange's wire code for this denial: the
	// client check comes before the tokens are looked at.
	exchangeCode string
	// authorizeCode, when set, is the authorize step's wire code for this
	// denial instead of access_denied.
	authorizeCode string
}

var gateDenials = []gateDenial{
	{
		name: "impersonation off for the receiving client",
		apply: func(t *testing.T, f *fixture) {
			f.updateClient(t, gateClient, func(c *store.Client) { c.Impersonation = false })
		},
		reason:       impersonation.ReasonImpersonationDisabled,
		exchangeCode: tokenexchange.ErrUnauthorizedClient.Code,
	},
	{
		name: "impersonator lacks the role for the receiving client",
		apply: func(t *testing.T, f *fixture) {
			require.NoError(t, f.db.Unassign(gateClient, roleImpersonator, "alice"))
		},
		reason:       impersonation.ReasonNoRole,
		exchangeCode: tokenexchange.ErrInvalidRequest.Code,
	},
	{
		// The flow's step 1.1: the switch alone is not enough.
		name: "receiving client not authorized for the impersonation API",
		apply: func(t *testing.T, f *fixture) {
			f.updateClient(t, gateClient, func(c *store.Client) {
				c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == subjecttoken.ScopeImpersonate })
			})
		},
		reason:        impersonation.ReasonClientNotAuthorized,
		exchangeCode:  tokenexchange.ErrUnauthorizedClient.Code,
		authorizeCode: subjecttoken.ErrUnauthorizedClient.Code,
	},
	{
		name: "receiving client requires a subject grant and bob gave none",
		apply: func(t *testing.T, f *fixture) {
			f.updateClient(t, gateClient, func(c *store.Client) { c.RequireSubjectGrant = true })
		},
		reason:       impersonation.ReasonSubjectGrantMissing,
		exchangeCode: tokenexchange.ErrInvalidRequest.Code,
	},
}

// gateOutcome is what an entry point answered.
type gateOutcome struct {
	// issued lists what the entry point handed out (tokens); must be empty.
	issued []string
	// code is the OAuth error code on the wire; empty for a library call
	// whose error the host maps (a *DeniedError: access_denied at the
	// authorize step, invalid_grant at the token endpoint).
	code string
	err  error
}

// gateEntry is one way the Service issues a token for another user.
type gateEntry struct {
	name string
	// methods are the Service methods this entry exercises.
	methods []string
	// setup runs while the policy still allows the impersonation and
	// returns the attempt to make once it is denied.
	setup func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome
	// code is the wire code the entry must answer; exchange entries use
	// the denial's exchangeCode instead.
	code     string
	exchange bool
	// event is the audit event type of the refusal; reasonPrefix starts
	// its reason.
	event        store.EventType
	reasonPrefix string
	// session: the entry runs under an impersonation session, which must
	// stay after the refusal.
	session bool
	// outcome is the refusal event's outcome; empty means denied. (A
	// refusal that ends the impersonation records impersonation.ended,
	// granted.)
	outcome string
}

// wireCode returns the code of a *tokenexchange.Error or a
// *subjecttoken.Error, "" for neither.
func wireCode(err error) string {
	var te *tokenexchange.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var se *subjecttoken.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// postedTokenOutcome reads a token endpoint answer.
func postedTokenOutcome(t *testing.T, status int, body []byte) gateOutcome {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "JSON body: %s", body)
	var out gateOutcome
	if status == http.StatusOK {
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			if s, _ := m[k].(string); s != "" {
				out.issued = append(out.issued, s)
			}
		}
		return out
	}
	out.code, _ = m["error"].(string)
	out.err = errors.New(string(body))
	return out
}

// gateRefreshToken starts the session and signs in at gateClient with
// refresh tokens on, returning the refresh token.
func gateRefreshToken(t *testing.T, f *fixture) string {
	t.Helper()
	_, first := f.startRefreshing(t, sessLogin) // gateClient is app2
	require.NotEmpty(t, first.RefreshToken)
	return first.RefreshToken
}

// postedExchange is the setup of an exchange at the token endpoint for
// gateClient asking for requested (with refresh tokens on for
// gateClient, which a refresh token needs).
func postedExchange(requested string) func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
	return func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
		f.enableRefresh(t, gateClient)
		req := exchangeRequest(f.authorizeFor(t, gateClient, "alice", "bob"))
		req.RequestedTokenType = requested
		return func(t *testing.T) gateOutcome {
			w := f.postToken(t, gateClient, secrets[gateClient], req.Values())
			return postedTokenOutcome(t, w.Code, w.Body.Bytes())
		}
	}
}

var gateEntries = []gateEntry{
	{
		name:    "authorize (subject token)",
		methods: []string{"Service.Authorize"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			req := f.parseAuthorize(t, authorizeValues(gateClient, "bob"))
			return func(t *testing.T) gateOutcome {
				resp, err := f.svc.Authorize(context.Background(), req, impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
				out := gateOutcome{code: wireCode(err), err: err}
				if resp != nil {
					out.issued = append(out.issued, resp.SubjectToken, resp.IDToken)
				}
				return out
			}
		},
		code:  subjecttoken.ErrAccessDenied.Code,
		event: store.EventImpersonationDenied,
	},
	{
		name:    "authorize endpoint (Handlers)",
		methods: []string{"Service.Handlers"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			h := authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now()})
			return func(t *testing.T) gateOutcome {
				w := ahServe(h, http.MethodGet, authorizeValues(gateClient, "bob"))
				require.Equal(t, http.StatusFound, w.Code, "refusals go back to the client: %s", w.Body)
				loc, err := url.Parse(w.Header().Get("Location"))
				require.NoError(t, err)
				frag, err := url.ParseQuery(loc.Fragment)
				require.NoError(t, err)
				out := gateOutcome{code: frag.Get("error")}
				for _, k := range []string{"subject_token", "id_token"} {
					if v := frag.Get(k); v != "" {
						out.issued = append(out.issued, v)
					}
				}
				if out.code != "" {
					out.err = errors.New(out.code)
				}
				return out
			}
		},
		code:  subjecttoken.ErrAccessDenied.Code,
		event: store.EventImpersonationDenied,
	},
	{
		name:    "token exchange (Service.Exchange)",
		methods: []string{"Service.Exchange"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			st, id := f.authorizeFor(t, gateClient, "alice", "bob")
			return func(t *testing.T) gateOutcome {
				resp, err := f.svc.Exchange(context.Background(), sessClient(gateClient), exchangeRequest(st, id))
				out := gateOutcome{code: wireCode(err), err: err}
				if resp != nil {
					out.issued = append(out.issued, resp.AccessToken)
				}
				return out
			}
		},
		exchange:     true,
		event:        store.EventTokenExchangeDenied,
		reasonPrefix: "",
	},
	{
		name:     "token exchange (token endpoint)",
		methods:  []string{"Service.Exchange"},
		setup:    postedExchange(""),
		exchange: true,
		event:    store.EventTokenExchangeDenied,
	},
	{
		name:     "token exchange for the user's ID token (requested_token_type id_token)",
		methods:  []string{"Service.Exchange"},
		setup:    postedExchange(tokenexchange.TokenTypeIDToken),
		exchange: true,
		event:    store.EventTokenExchangeDenied,
	},
	{
		name:     "token exchange for a refresh token (requested_token_type refresh_token)",
		methods:  []string{"Service.Exchange"},
		setup:    postedExchange(tokenexchange.TokenTypeRefreshToken),
		exchange: true,
		event:    store.EventTokenExchangeDenied,
	},
	{
		name:    "refresh of a refresh token from token exchange (Sessions.Refresh)",
		methods: []string{"Sessions.Refresh"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			f.enableRefresh(t, gateClient)
			req := exchangeRequest(f.authorizeFor(t, gateClient, "alice", "bob"))
			req.RequestedTokenType = tokenexchange.TokenTypeRefreshToken
			resp, err := f.svc.Exchange(context.Background(), sessClient(gateClient), req)
			require.NoError(t, err)
			return func(t *testing.T) gateOutcome {
				tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(gateClient), resp.AccessToken, nil)
				out := gateOutcome{code: wireCode(err), err: err}
				if tok != nil {
					out.issued = append(out.issued, tok.AccessToken, tok.IDToken, tok.RefreshToken)
				}
				return out
			}
		},
		code: tokenexchange.ErrInvalidGrant.Code,
		// The session is the receiving client's own: the denial ends it.
		event:        store.EventImpersonationEnded,
		outcome:      store.OutcomeGranted,
		reasonPrefix: "policy: ",
	},
	{
		name:    "session sign-in, authorize step (SignInSession)",
		methods: []string{"Sessions.SignIn"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			f.startSession(t, sessReason)
			return func(t *testing.T) gateOutcome {
				sess, err := f.svc.Sessions().SignIn(context.Background(), sessLogin, gateClient)
				require.NotNil(t, sess, "the host learns whom the session impersonates, to say so")
				return gateOutcome{err: err}
			}
		},
		event:        store.EventImpersonationDenied,
		reasonPrefix: "session sign-in: policy: ",
		session:      true,
	},
	{
		name:    "session sign-in, token step (IssueTokens)",
		methods: []string{"Sessions.Issue"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			f.startSession(t, sessReason)
			return func(t *testing.T) gateOutcome {
				tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(gateClient, sessLogin))
				out := gateOutcome{err: err}
				if tok != nil {
					out.issued = append(out.issued, tok.AccessToken, tok.IDToken, tok.RefreshToken)
				}
				return out
			}
		},
		event:        store.EventImpersonationDenied,
		reasonPrefix: "session sign-in: policy: ",
		session:      true,
	},
	{
		name:    "refresh under a session (Sessions.Refresh)",
		methods: []string{"Sessions.Refresh"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			first := gateRefreshToken(t, f)
			return func(t *testing.T) gateOutcome {
				tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(gateClient), first, nil)
				out := gateOutcome{code: wireCode(err), err: err}
				if tok != nil {
					out.issued = append(out.issued, tok.AccessToken, tok.IDToken, tok.RefreshToken)
				}
				return out
			}
		},
		code:         tokenexchange.ErrInvalidGrant.Code,
		event:        store.EventImpersonationDenied,
		reasonPrefix: "session refresh: policy: ",
		session:      true,
	},
	{
		name:    "refresh under a session (token endpoint, refresh_token grant)",
		methods: []string{"Sessions.Grant"},
		setup: func(t *testing.T, f *fixture) func(t *testing.T) gateOutcome {
			first := gateRefreshToken(t, f)
			return func(t *testing.T) gateOutcome {
				w := f.postToken(t, gateClient, secrets[gateClient], url.Values{
					"grant_type": {tokenexchange.GrantTypeRefreshToken}, "refresh_token": {first},
				})
				return postedTokenOutcome(t, w.Code, w.Body.Bytes())
			}
		},
		code:         tokenexchange.ErrInvalidGrant.Code,
		event:        store.EventImpersonationDenied,
		reasonPrefix: "session refresh: policy: ",
		session:      true,
	},
}

// TestPolicyGate_EveryIssuingEntryPoint: a policy denied for the receiving
// client stops every entry point, with its wire code, an audit event naming
// the client and the rule, nothing issued, and (under a session) the
// session kept for the clients that allow it.
func TestPolicyGate_EveryIssuingEntryPoint(t *testing.T) {
	t.Parallel()
	for _, entry := range gateEntries {
		for _, denial := range gateDenials {
			t.Run(entry.name+"/"+denial.name, func(t *testing.T) {
				t.Parallel()
				f := newSessionFixture(t)
				attempt := entry.setup(t, f)
				denial.apply(t, f)
				n := len(f.db.Events())

				out := attempt(t)

				require.Error(t, out.err, "the entry point issued despite the denied policy")
				assert.Empty(t, slices.DeleteFunc(out.issued, func(s string) bool { return s == "" }), "nothing is issued")
				wantCode := entry.code
				if entry.exchange {
					wantCode = denial.exchangeCode
				}
				if denial.authorizeCode != "" && wantCode == subjecttoken.ErrAccessDenied.Code {
					wantCode = denial.authorizeCode
				}
				assert.Equal(t, wantCode, out.code, "wire code")
				if wantCode == "" {
					var denied *impersonation.DeniedError
					require.ErrorAs(t, out.err, &denied, "the host maps a *DeniedError to its wire code")
					assert.ErrorIs(t, out.err, impersonation.ErrNotPermitted)
					assert.Equal(t, denial.reason, denied.Reason)
				}

				events := testkit.EventsSince(f.db.Events(), n)
				outcome := entry.outcome
				if outcome == "" {
					outcome = store.OutcomeDenied
				}
				var found bool
				for _, e := range events {
					assert.NotContains(t, []store.EventType{
						store.EventImpersonationStarted, store.EventTokenExchanged, store.EventSessionTokens,
					}, e.Type, "nothing recorded as issued: %+v", e)
					if e.Type == entry.event && e.ClientID == gateClient && e.Outcome == outcome {
						found = true
						assert.Contains(t, e.Reason, entry.reasonPrefix+string(denial.reason), "the rule in the audit reason")
						if !entry.exchange || denial.exchangeCode == tokenexchange.ErrInvalidRequest.Code {
							// An exchange refused for the client itself is
							// refused before its tokens are read.
							assert.Equal(t, "alice", e.Impersonator)
							assert.Equal(t, "bob", e.Subject)
						}
					}
				}
				assert.Truef(t, found, "no %s event for client %s among %+v", entry.event, gateClient, events)

				if entry.session {
					sess := f.activeSession(t)
					require.NotNil(t, sess, "a refusal for one client does not end the session")
					f.requireSessionTokens(t, f.issueTokens(t, appID, sessLogin), appID, sess)
				}
			})
		}
	}
}

// TestPolicyGate_RefreshRefusalKeepsTheRefreshToken: the gate runs before a
// refresh token is used up, so a refusal that is lifted (the role given
// back) leaves it redeemable.
func TestPolicyGate_RefreshRefusalKeepsTheRefreshToken(t *testing.T) {
	t.Parallel()
	f, sess, first := refreshingSession(t, sessLogin) // gateClient is app2
	require.NoError(t, f.db.Unassign(gateClient, roleImpersonator, "alice"))
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, f.refreshErr(t, gateClient, first.RefreshToken, nil).Code)

	require.NoError(t, f.db.Assign(gateClient, roleImpersonator, "alice"))
	f.requireSessionTokens(t, f.refreshOK(t, gateClient, first.RefreshToken, nil), gateClient, sess)
}

// TestPolicyGate_SignInSessionAllowed: where the policy passes for the
// client signing in, SignInSession answers the session and records
// nothing; without a session it answers nil, nil.
func TestPolicyGate_SignInSessionAllowed(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, _ := f.startSession(t, sessReason)
	n := len(f.db.Events())
	for _, id := range []string{appID, gateClient} {
		got, err := f.svc.Sessions().SignIn(context.Background(), sessLogin, id)
		require.NoError(t, err, id)
		assert.Equal(t, sess, got, id)
	}
	got, err := f.svc.Sessions().SignIn(context.Background(), sessOtherLogin, noImpID)
	require.NoError(t, err, "no impersonation: any client signs the user in as themselves")
	assert.Nil(t, got)
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
}

// TestPolicyGate_SignInSessionUnknownClient: an unknown client is a
// refusal too, recorded with the client ID made safe for the log.
func TestPolicyGate_SignInSessionUnknownClient(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.startSession(t, sessReason)
	n := len(f.db.Events())
	sess, err := f.svc.Sessions().SignIn(context.Background(), sessLogin, "no-such-client")
	require.NotNil(t, sess)
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonUnknownClient, denied.Reason)
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationDenied, store.OutcomeDenied, "session sign-in: policy: client_unknown")
	assert.Equal(t, "no-such-client", e.ClientID)
}

// gateExempt are the exported methods of Service, Sessions and History
// that issue no token for another user, each with why. A new method must be
// added here or, if it issues, to gateEntries:
// TestPolicyGate_EveryMethodClassified fails until it is.
var gateExempt = map[string]string{
	"History.End":                "ends an impersonation at the request of its subject, revoking its tokens; it mints nothing",
	"History.List":               "reads the audit log back for the subject the host names; it mints nothing",
	"Service.AuthenticateClient": "checks a client secret",
	"Service.Decide":             "is the gate itself",
	"Service.Introspect":         "describes a token already issued",
	"Service.Revoke":             "revokes a token",
	"Service.Sessions":           "returns the sessions, whose issuing methods are classified here too",
	"Grants.Give":                "records access a user gives; the policy reads it, it mints nothing",
	"Grants.Revoke":              "revokes that access and the tokens that rely on it",
	"Grants.Of":                  "lists a user's grants",
	"Grants.MaxDuration":         "says the longest grant",
	"Sessions.Active":            "looks a session up for display and for the impersonation response types, whose issuing Authorize gates",
	"Sessions.End":               "ends a session and revokes its tokens",
	"Sessions.Start":             "binds a login session to an access token the exchange gate issued; it mints nothing",
}

// TestPolicyGate_EveryMethodClassified: every exported method of Service,
// Sessions and History either issues and has a gate case, or is listed as
// exempt with a reason.
func TestPolicyGate_EveryMethodClassified(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, e := range gateEntries {
		for _, m := range e.methods {
			covered[m] = true
		}
	}
	types := map[string]reflect.Type{
		"Service":  reflect.TypeFor[*impersonation.Service](),
		"Sessions": reflect.TypeFor[*impersonation.Sessions](),
		"Grants":   reflect.TypeFor[*impersonation.Grants](),
		"History":  reflect.TypeFor[*impersonation.History](),
	}
	for tname, typ := range types {
		for i := range typ.NumMethod() {
			name := tname + "." + typ.Method(i).Name
			_, exempt := gateExempt[name]
			assert.Truef(t, covered[name] != exempt,
				"%s must be either an issuing entry point with a case in gateEntries or exempt with a reason in gateExempt (covered %t, exempt %t)",
				name, covered[name], exempt)
		}
	}
	for name := range covered {
		tname, method, _ := strings.Cut(name, ".")
		typ, ok := types[tname]
		require.Truef(t, ok, "gateEntries names %s, of a type the test does not know", name)
		_, ok = typ.MethodByName(method)
		assert.Truef(t, ok, "gateEntries names %s, which does not exist", name)
	}
}
