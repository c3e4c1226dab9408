package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The -data file, exactly as issue #3 specifies it. Every member is
// optional except the ids; unknown members are an error, so that a typo
// ("pasword") does not silently leave an account without a password.

type orgEntry struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

type userEntry struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Password string `json:"password"`
	Org      string `json:"org"`
	Email    string `json:"email"`
	Disabled bool   `json:"disabled"`
}

type clientEntry struct {
	ID              string   `json:"id"`
	Secret          string   `json:"secret"`
	RedirectURIs    []string `json:"redirect_uris"`
	Scopes          []string `json:"scopes"`
	GrantTypes      []string `json:"grant_types"`
	Impersonation   bool     `json:"impersonation"`
	SkipConsent     bool     `json:"skip_consent"`
	ResponseModes   []string `json:"response_modes"`
	Audiences       []string `json:"audiences"`
	SubjectTokenTTL int64    `json:"subject_token_ttl"`
	AccessTokenTTL  int64    `json:"access_token_ttl"`
	// RefreshTokens lets the client receive refresh tokens from the
	// authorization-code grant (store.Client.RefreshTokens).
	RefreshTokens bool `json:"refresh_tokens"`
	// ReasonRequired refuses an impersonation through the client without
	// a stated reason (store.Client.ReasonRequired).
	ReasonRequired bool `json:"reason_required"`
	// RequireSubjectGrant refuses an impersonation through the client
	// unless the user has given access from /account
	// (store.Client.RequireSubjectGrant).
	RequireSubjectGrant bool `json:"require_subject_grant"`
	// PostLogoutRedirectURIs are where the end-session endpoint may send
	// the browser back to after a logout the client asked for
	// (store.Client.PostLogoutRedirectURIs): absolute, without fragment.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// SkipLogoutConsent: a logout the client asks for with an ID token
	// of the signed-in user needs no confirmation
	// (store.Client.SkipLogoutConsent; the seed's "Skip logout consent").
	SkipLogoutConsent bool `json:"skip_logout_consent"`
}

type roleEntry struct {
	Name   string   `json:"name"`
	Client string   `json:"client"`
	Scopes []string `json:"scopes"`
	Users  []string `json:"users"`
}

// data is the content of a data file (or the built-in demo data) with
// passwords and secrets still in clear text. It never leaves this process:
// newDirectory hashes what it needs and the clear text is dropped.
type data struct {
	Organizations []orgEntry
	Users         []userEntry
	Clients       []clientEntry
	Roles         []roleEntry
	// Auditors are the IDs of the users who see the whole audit log.
	Auditors []string
}

// maxDataBytes caps the data file.
const maxDataBytes = 16 << 20

// loadDataFile reads, decodes and validates the -data file. Errors name
// the file, the entry and the problem.
func loadDataFile(path string) (*data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxDataBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxDataBytes)
	}
	d, err := parseData(path, b)
	if err != nil {
		return nil, err
	}
	if err := d.validate(path); err != nil {
		return nil, err
	}
	return d, nil
}

// checkLifetimes refuses a client whose lifetimes exceed the caps of the
// server (-max-subject-token-ttl; the access token cap is the library's),
// naming the client, the field and the cap: a lifetime is never silently
// shortened.
func (d *data) checkLifetimes(name string, caps impersonation.LifetimeCaps) error {
	subjectCap := caps.SubjectToken
	if subjectCap == 0 {
		subjectCap = impersonation.DefaultMaxSubjectTokenTTL
	}
	var errs []error
	for i, c := range d.Clients {
		at := where("clients", i, c.ID)
		if time.Duration(c.SubjectTokenTTL)*time.Second > subjectCap {
			errs = append(errs, fmt.Errorf(`%s: %s: "subject_token_ttl" %d exceeds the cap of %d seconds (-max-subject-token-ttl)`,
				name, at, c.SubjectTokenTTL, int64(subjectCap/time.Second)))
		}
		if time.Duration(c.AccessTokenTTL)*time.Second > impersonation.MaxAccessTokenTTL {
			errs = append(errs, fmt.Errorf(`%s: %s: "access_token_ttl" %d exceeds the cap of %d seconds`,
				name, at, c.AccessTokenTTL, int64(impersonation.MaxAccessTokenTTL/time.Second)))
		}
	}
	return errors.Join(errs...)
}

// parseData decodes the JSON of a data file named name: syntax errors and
// type errors with their line and column, unknown members with the entry
// they are in.
func parseData(name string, b []byte) (*data, error) {
	var raw struct {
		Organizations []json.RawMessage `json:"organizations"`
		Users         []json.RawMessage `json:"users"`
		Clients       []json.RawMessage `json:"clients"`
		Roles         []json.RawMessage `json:"roles"`
		// Auditors are user IDs: the users who see every event of the
		// audit log, whatever their organisation.
		Auditors []string `json:"auditors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %s", name, describeJSONError(b, err, ""))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		for end < int64(len(b)) && strings.ContainsRune(" \t\r\n", rune(b[end])) {
			end++
		}
		line, col := lineCol(b, end)
		return nil, fmt.Errorf("%s: line %d, column %d: unexpected data after the top-level object", name, line, col)
	}
	d := &data{}
	var errs []error
	decodeAll(name, "organizations", raw.Organizations, &d.Organizations, &errs)
	decodeAll(name, "users", raw.Users, &d.Users, &errs)
	decodeAll(name, "clients", raw.Clients, &d.Clients, &errs)
	decodeAll(name, "roles", raw.Roles, &d.Roles, &errs)
	d.Auditors = raw.Auditors
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// decodeAll decodes each element of raw strictly into out, appending an
// error naming kind[i] (and its id when one can be read) for each that
// does not decode.
func decodeAll[T any](name, kind string, raw []json.RawMessage, out *[]T, errs *[]error) {
	for i, r := range raw {
		var v T
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			var id struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			_ = json.Unmarshal(r, &id)
			key := id.ID
			if kind == "roles" {
				key = id.Name
			}
			*errs = append(*errs, fmt.Errorf("%s: %s: %s", name, where(kind, i, key), describeJSONError(nil, err, kind)))
			continue
		}
		*out = append(*out, v)
	}
}

// describeJSONError turns an encoding/json error into a message; with the
// document b it adds the line and column of syntax and type errors.
func describeJSONError(b []byte, err error, kind string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	at := func(off int64) string {
		if b == nil {
			return ""
		}
		line, col := lineCol(b, off)
		return fmt.Sprintf("line %d, column %d: ", line, col)
	}
	switch {
	case errors.Is(err, io.EOF):
		return "empty file: expected a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of file"
	case errors.As(err, &syn):
		return at(syn.Offset) + "malformed JSON: " + syn.Error()
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			if kind != "" {
				return fmt.Sprintf("expected a JSON object, got %s", typ.Value)
			}
			return at(typ.Offset) + fmt.Sprintf("expected a JSON object, got %s", typ.Value)
		}
		return at(typ.Offset) + fmt.Sprintf("%q: expected %s, got %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if kind == "" {
			return "unknown top-level member " + f + " (allowed: organizations, users, clients, roles, auditors)"
		}
		return "unknown member " + f
	}
	return "malformed JSON: " + err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int64", "int":
		return "an integer"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return goKind
}

// lineCol returns the 1-based line and column of byte offset off in b.
func lineCol(b []byte, off int64) (int, int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// where names an entry: kind[i], with its id when it has one.
func where(kind string, i int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s[%d]", kind, i)
	}
	label := "id"
	if kind == "roles" {
		label = "name"
	}
	return fmt.Sprintf("%s[%d] (%s %q)", kind, i, label, id)
}

// maxProblems is how many validation problems are reported at once.
const maxProblems = 20

// validate checks what decoding cannot: required ids, duplicates per kind,
// references between entries, organisation cycles, values outside their
// range. name prefixes every message.
func (d *data) validate(name string) error {
	var errs []error
	add := func(at, format string, args ...any) {
		if len(errs) < maxProblems {
			errs = append(errs, fmt.Errorf("%s: %s: %s", name, at, fmt.Sprintf(format, args...)))
		}
	}

	// unique keeps index i under key in seen; an empty key is reported
	// with missing, one seen before with dupFormat (args, then the earlier
	// index). It reports whether key was new.
	unique := func(seen map[string]int, key string, i int, at, missing, dupFormat string, args ...any) bool {
		j, dup := seen[key]
		switch {
		case key == "":
			add(at, "%s", missing)
		case dup:
			add(at, dupFormat, append(args, j)...)
		default:
			seen[key] = i
			return true
		}
		return false
	}
	// refer reports a missing reference field or one to an unknown key.
	refer := func(seen map[string]int, key, at, field string) {
		switch _, ok := seen[key]; {
		case key == "":
			add(at, "missing %q", field)
		case !ok:
			add(at, "%s %q does not exist", field, key)
		}
	}

	orgs := map[string]int{}
	for i, o := range d.Organizations {
		unique(orgs, o.ID, i, where("organizations", i, o.ID), `missing "id"`, "duplicate id: also organizations[%d]")
	}
	for i, o := range d.Organizations {
		if o.Parent == "" || o.ID == "" {
			continue
		}
		if _, ok := orgs[o.Parent]; !ok {
			add(where("organizations", i, o.ID), "parent %q does not exist", o.Parent)
		}
	}
	// Cycles: follow each organisation's parents; report each cycle once,
	// at the entry of the cycle that comes first in the file.
	reported := map[string]bool{}
	for i, o := range d.Organizations {
		if o.ID == "" || reported[o.ID] {
			continue
		}
		path := []string{o.ID}
		seen := map[string]bool{o.ID: true}
		for cur := o; cur.Parent != ""; {
			j, ok := orgs[cur.Parent]
			if !ok {
				break
			}
			cur = d.Organizations[j]
			path = append(path, cur.ID)
			if seen[cur.ID] {
				if cur.ID == o.ID {
					for _, id := range path {
						reported[id] = true
					}
					add(where("organizations", i, o.ID), "organisation cycle: %s", strings.Join(path, " -> "))
				}
				break
			}
			seen[cur.ID] = true
		}
	}

	users := map[string]int{}
	usernames := map[string]int{}
	for i, u := range d.Users {
		at := where("users", i, u.ID)
		unique(users, u.ID, i, at, `missing "id"`, "duplicate id: also users[%d]")
		unique(usernames, u.Username, i, at, `missing "username"`, "duplicate username %q: also users[%d]", u.Username)
		refer(orgs, u.Org, at, "org")
	}

	clients := map[string]int{}
	for i, c := range d.Clients {
		at := where("clients", i, c.ID)
		unique(clients, c.ID, i, at, `missing "id"`, "duplicate id: also clients[%d]")
		if len(c.RedirectURIs) == 0 {
			add(at, `"redirect_uris" is empty: the client could never receive a response`)
		}
		for k, uri := range c.RedirectURIs {
			if problem := checkRedirectURI(uri); problem != "" {
				add(at, "redirect_uris[%d] %q: %s", k, uri, problem)
			}
		}
		for k, uri := range c.PostLogoutRedirectURIs {
			if problem := checkRedirectURI(uri); problem != "" {
				add(at, "post_logout_redirect_uris[%d] %q: %s", k, uri, problem)
			}
		}
		for k, m := range c.ResponseModes {
			if m != store.ResponseModeFragment && m != store.ResponseModeQuery && m != store.ResponseModeFormPost {
				add(at, "response_modes[%d] %q: not one of fragment, form_post, query", k, m)
			}
		}
		for k, a := range c.Audiences {
			if a == "" {
				add(at, "audiences[%d] is empty", k)
			}
		}
		for k, s := range c.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n,\"\\") {
				add(at, "scopes[%d] %q: not a scope token", k, s)
			}
		}
		if c.SubjectTokenTTL < 0 {
			add(at, `"subject_token_ttl" is negative (%d)`, c.SubjectTokenTTL)
		}
		if c.AccessTokenTTL < 0 {
			add(at, `"access_token_ttl" is negative (%d)`, c.AccessTokenTTL)
		}
	}

	type roleKey struct{ client, name string }
	roles := map[roleKey]int{}
	for i, r := range d.Roles {
		at := where("roles", i, r.Name)
		if r.Name == "" {
			add(at, `missing "name"`)
		}
		refer(clients, r.Client, at, "client")
		if r.Name != "" && r.Client != "" {
			k := roleKey{r.Client, r.Name}
			if j, dup := roles[k]; dup {
				add(at, "duplicate role %q for client %q: also roles[%d]", r.Name, r.Client, j)
			} else {
				roles[k] = i
			}
		}
		for k, u := range r.Users {
			if _, ok := users[u]; !ok {
				add(at, "users[%d]: user %q does not exist", k, u)
			}
		}
	}
	auditors := map[string]int{}
	for i, a := range d.Auditors {
		at := fmt.Sprintf("auditors[%d]", i)
		if unique(auditors, a, i, at, "empty user id", "duplicate user %q: also auditors[%d]", a) {
			if _, ok := users[a]; !ok {
				add(at, "user %q does not exist", a)
			}
		}
	}
	if len(errs) == maxProblems {
		errs = append(errs, fmt.Errorf("%s: (more problems not shown)", name))
	}
	return errors.Join(errs...)
}

// checkRedirectURI returns what is wrong with a redirect URI, or "".
func checkRedirectURI(uri string) string {
	u, err := url.Parse(uri)
	switch {
	case err != nil:
		return "not a URI"
	case !u.IsAbs():
		return "not an absolute URI"
	case u.Fragment != "" || strings.Contains(uri, "#"):
		return "has a fragment (RFC 6749 §3.1.2)"
	}
	return ""
}

// Demo data: what the server serves without -data. The passwords and
// secrets are fixed so that the curl session of docs/reference-server.md works as written;
// they are printed at start and must never be used anywhere else.
const (
	demoAppClientID  = "demo-app"
	demoAppSecret    = "demo-app-secret-not-for-production"
	demoApp2ClientID = "demo-app2"
	demoApp2Secret   = "demo-app2-secret-not-for-production"
	demoApp3ClientID = "demo-app3"
	demoApp3Secret   = "demo-app3-secret-not-for-production"
	cliClientID      = "cli"
	cliSecret        = "cli-secret-not-for-production"
	cliRedirectURI   = "https://oauth.pstmn.io/v1/callback"
)

// demoData returns the built-in demo data for issuer: organisation acme
// with child acme-eu and the separate root globex; alice (acme) holds the
// impersonation role for demo-app and cli; bob and carol (acme-eu) are
// customers; dave (globex) is out of alice's reach. demo-app2 and
// demo-app3 are ordinary OpenID Connect clients (authorization code with
// PKCE; demo-app2 with refresh tokens) that know nothing about
// impersonation. demo-app2 has impersonation on and alice holds the
// impersonation role for it, so an impersonation session signs in there
// as the impersonated user; demo-app3 has neither, so a sign-in to it
// under an impersonation session is refused (access_denied): a role for
// one application never becomes the user's rights in another. Both log
// out through the end-session endpoint: demo-app2, like cli, skips the
// logout confirmation (the seed's step 1.4 for the impersonation
// application), demo-app3 asks for it.
func demoData(issuer string) *data {
	impersonate := []string{tokenexchange.GrantType}
	return &data{
		Organizations: []orgEntry{
			{ID: "acme", Name: "ACME Corporation"},
			{ID: "acme-eu", Name: "ACME Europe", Parent: "acme"},
			{ID: "globex", Name: "Globex"},
		},
		Users: []userEntry{
			{ID: "alice", Username: "alice", Password: "alice-demo-password", Org: "acme", Email: "alice@acme.example"},
			{ID: "bob", Username: "bob", Password: "bob-demo-password", Org: "acme-eu", Email: "bob@acme.example"},
			{ID: "carol", Username: "carol", Password: "carol-demo-password", Org: "acme-eu", Email: "carol@acme.example"},
			{ID: "dave", Username: "dave", Password: "dave-demo-password", Org: "globex", Email: "dave@globex.example"},
		},
		Clients: []clientEntry{
			{
				ID: demoAppClientID, Secret: demoAppSecret,
				RedirectURIs:  []string{issuer + "/app/callback"},
				Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, "orders:read", "orders:write"},
				GrantTypes:    impersonate,
				Impersonation: true,
				ResponseModes: []string{store.ResponseModeFormPost, store.ResponseModeFragment},
				Audiences:     []string{issuer + "/api"},
			},
			{
				ID: cliClientID, Secret: cliSecret,
				RedirectURIs:      []string{cliRedirectURI},
				Scopes:            []string{"openid", subjecttoken.ScopeImpersonate, "orders:read", "orders:write"},
				GrantTypes:        impersonate,
				Impersonation:     true,
				SkipConsent:       true,
				SkipLogoutConsent: true,
				ResponseModes:     []string{store.ResponseModeFragment, store.ResponseModeQuery},
				Audiences:         []string{issuer + "/api"},
			},
			{
				ID: demoApp2ClientID, Secret: demoApp2Secret,
				RedirectURIs:  []string{issuer + "/app2/callback"},
				Scopes:        []string{"openid", subjecttoken.ScopeImpersonate, "orders:read"},
				GrantTypes:    []string{tokenexchange.GrantTypeAuthorizationCode, tokenexchange.GrantTypeRefreshToken},
				RefreshTokens: true,
				Impersonation: true,
				// The application impersonators use: pre-approved, so its
				// logout asks nothing (the seed's step 1.4).
				PostLogoutRedirectURIs: []string{issuer + "/app2/signed-out"},
				SkipLogoutConsent:      true,
			},
			{
				ID: demoApp3ClientID, Secret: demoApp3Secret,
				RedirectURIs: []string{issuer + "/app3/callback"},
				Scopes:       []string{"openid", "orders:read"},
				GrantTypes:   []string{tokenexchange.GrantTypeAuthorizationCode},
				// Its users confirm a logout it asks for.
				PostLogoutRedirectURIs: []string{issuer + "/app3/signed-out"},
			},
		},
		Roles: []roleEntry{
			{Name: "impersonator", Client: demoAppClientID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}},
			{Name: "customer", Client: demoAppClientID, Scopes: []string{"orders:read"}, Users: []string{"bob", "dave"}},
			{Name: "manager", Client: demoAppClientID, Scopes: []string{"orders:read", "orders:write"}, Users: []string{"carol"}},
			{Name: "impersonator", Client: cliClientID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}},
			{Name: "customer", Client: cliClientID, Scopes: []string{"orders:read"}, Users: []string{"bob", "dave"}},
			{Name: "manager", Client: cliClientID, Scopes: []string{"orders:read", "orders:write"}, Users: []string{"carol"}},
			{Name: "impersonator", Client: demoApp2ClientID, Scopes: []string{subjecttoken.ScopeImpersonate}, Users: []string{"alice"}},
			{Name: "customer", Client: demoApp2ClientID, Scopes: []string{"orders:read"}, Users: []string{"bob", "carol", "dave"}},
			{Name: "customer", Client: demoApp3ClientID, Scopes: []string{"orders:read"}, Users: []string{"bob", "carol", "dave"}},
		},
	}
}

// account is what the login needs of a user.
type account struct {
	userID string
	// hash is the PBKDF2 hash of the password; empty when the user has
	// none and so cannot sign in.
	hash     string
	disabled bool
}

// directory is the loaded data: the memory store the library reads, and
// what the host itself needs (login, console listing, consent settings,
// the demo app's own credentials).
type directory struct {
	db    *memory.Store
	users []store.User // in file order
	orgs  map[string]store.Organization
	// orgOrder lists the organisations parents first, the order a store
	// that checks parents (PutOrganization) must be given them in.
	orgOrder []store.Organization
	// roles are the roles in file order.
	roles    []store.Role
	accounts map[string]account // by username
	clients  []store.Client
	// skipConsent lists the clients whose consent page is skipped.
	skipConsent map[string]bool
	// secrets are the clear-text secrets of the demo apps' clients, which
	// the apps need to authenticate at the token endpoint like any
	// confidential client; none for a client the data lacks.
	secrets map[string]string
	// dummyHash is verified when a login names an unknown user, so that
	// it costs the same time as a wrong password.
	dummyHash string
	scopes    []string // every scope of every client, for discovery
	// auditors are the users who see the whole audit log.
	auditors map[string]bool
}

// newDirectory loads d (validated) into a fresh memory store on the clock
// now, hashing passwords with passwordIterations and secrets with
// store.ClientSecretIterations. appClientIDs name the clients whose
// secrets the demo apps keep.
func newDirectory(d *data, passwordIterations int, now func() time.Time, appClientIDs ...string) (*directory, error) {
	dir := &directory{
		db:          memory.New(memory.WithClock(now)),
		orgs:        map[string]store.Organization{},
		accounts:    map[string]account{},
		skipConsent: map[string]bool{},
		secrets:     map[string]string{},
	}
	// Organisations, parents first (PutOrganization wants the parent).
	pending := slices.Clone(d.Organizations)
	for len(pending) > 0 {
		var next []orgEntry
		for _, o := range pending {
			if _, ok := dir.orgs[o.Parent]; o.Parent != "" && !ok {
				next = append(next, o)
				continue
			}
			org := store.Organization{ID: o.ID, Name: o.Name, Parent: o.Parent}
			if org.Name == "" {
				org.Name = o.ID
			}
			if err := dir.db.PutOrganization(org); err != nil {
				return nil, err
			}
			dir.orgs[o.ID] = org
			dir.orgOrder = append(dir.orgOrder, org)
		}
		if len(next) == len(pending) {
			return nil, errors.New("organisations: unresolvable parents") // validate prevents this
		}
		pending = next
	}

	// Hash every password (the expensive part) in parallel.
	hashes := make([]string, len(d.Users))
	hashErrs := make([]error, len(d.Users)+1)
	var wg sync.WaitGroup
	for i, u := range d.Users {
		if u.Password == "" {
			continue
		}
		wg.Go(func() { hashes[i], hashErrs[i] = store.HashSecret(u.Password, passwordIterations) })
	}
	wg.Go(func() {
		dir.dummyHash, hashErrs[len(d.Users)] = store.HashSecret("no such user: a password nobody has", passwordIterations)
	})
	wg.Wait()
	if err := errors.Join(hashErrs...); err != nil {
		return nil, err
	}
	for i, u := range d.Users {
		su := store.User{ID: u.ID, Username: u.Username, Name: u.Username, Email: u.Email, Org: u.Org, Disabled: u.Disabled}
		if err := dir.db.PutUser(su); err != nil {
			return nil, err
		}
		dir.users = append(dir.users, su)
		dir.accounts[u.Username] = account{userID: u.ID, hash: hashes[i], disabled: u.Disabled}
	}

	scopes := []string{"openid", subjecttoken.ScopeImpersonate}
	for _, c := range d.Clients {
		var hash string
		if c.Secret != "" {
			var err error
			if hash, err = store.HashSecret(c.Secret, store.ClientSecretIterations); err != nil {
				return nil, err
			}
		}
		sc := store.Client{
			ID: c.ID, Name: c.ID, SecretHash: hash,
			RedirectURIs:           slices.Clone(c.RedirectURIs),
			Scopes:                 slices.Clone(c.Scopes),
			GrantTypes:             slices.Clone(c.GrantTypes),
			Impersonation:          c.Impersonation,
			ResponseModes:          slices.Clone(c.ResponseModes),
			Audiences:              slices.Clone(c.Audiences),
			SubjectTokenTTL:        time.Duration(c.SubjectTokenTTL) * time.Second,
			AccessTokenTTL:         time.Duration(c.AccessTokenTTL) * time.Second,
			RefreshTokens:          c.RefreshTokens,
			ReasonRequired:         c.ReasonRequired,
			RequireSubjectGrant:    c.RequireSubjectGrant,
			PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
			SkipLogoutConsent:      c.SkipLogoutConsent,
		}
		if err := dir.db.PutClient(sc); err != nil {
			return nil, err
		}
		dir.clients = append(dir.clients, sc)
		dir.skipConsent[c.ID] = c.SkipConsent
		if slices.Contains(appClientIDs, c.ID) && c.Secret != "" {
			dir.secrets[c.ID] = c.Secret
		}
		for _, s := range c.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	dir.scopes = scopes

	for _, r := range d.Roles {
		role := store.Role{Name: r.Name, ClientID: r.Client, Scopes: slices.Clone(r.Scopes), Users: slices.Clone(r.Users)}
		if err := dir.db.PutRole(role); err != nil {
			return nil, err
		}
		dir.roles = append(dir.roles, role)
	}
	dir.auditors = map[string]bool{}
	for _, a := range d.Auditors {
		dir.auditors[a] = true
	}
	return dir, nil
}

// client returns the client with id, if any.
func (d *directory) client(id string) (store.Client, bool) {
	for _, c := range d.clients {
		if c.ID == id {
			return c, true
		}
	}
	return store.Client{}, false
}

// username returns the username of the user with id, or id itself.
func (d *directory) username(id string) string {
	for _, u := range d.users {
		if u.ID == id {
			return u.Username
		}
	}
	return id
}
