package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/store"
)

var _ store.SubjectGrants = (*Store)(nil)

// Subject grant errors; their text holds no field of a grant.
var (
	errGrantIncomplete = errors.New("a subject grant needs an ID and a subject")
	errGrantNotUTF8    = errors.New("a subject grant field is not valid UTF-8")
	errGrantEncode     = errors.New("cannot encode the subject grant")
	errGrantCorrupt    = errors.New("the stored value is not a valid subject grant")
)

// grantRetention is how long after its expiry a subject's grants are
// kept, so that a refusal can say a grant expired or was revoked.
const grantRetention = 24 * time.Hour

// grantsKey is the hash of one subject's grants: field "g:<id>" holds the
// grant as JSON, field "r:<id>" its revocation time (RFC 3339, UTC) once
// revoked. The key lives until the last grant's expiry plus
// grantRetention.
func (s *Store) grantsKey(subject string) string { return s.prefix + "grants:" + subject }

// grantRecord is the stored JSON form of a [store.SubjectGrant] without
// its revocation; like the session record, its field names are part of the
// key layout's compatibility promise.
type grantRecord struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	Impersonator string    `json:"impersonator"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
}

// putGrantScript stores a grant and its revocation (or none) and extends
// the hash's TTL, never shortening it, in one atomic step.
var putGrantScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then
	redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
else
	redis.call('HDEL', KEYS[1], ARGV[3])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
	redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
`)

// revokeGrantScript sets the revocation time once (HSETNX: the first
// stays) and returns the grant and its revocation time, or nil for an
// unknown grant.
var revokeGrantScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3])
return redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
`)

// PutSubjectGrant implements [store.SubjectGrants] with one script: the
// grant goes into its subject's hash, which lives until the last grant's
// expiry plus a day. A grant without an ID or a subject, or with a field
// that is not valid UTF-8, is refused.
func (s *Store) PutSubjectGrant(ctx context.Context, g store.SubjectGrant) error {
	if g.ID == "" || g.Subject == "" {
		return fmt.Errorf("redisstore: subject grant: %w", errGrantIncomplete)
	}
	for _, f := range []string{g.ID, g.Subject, g.ClientID, g.Impersonator} {
		if !utf8.ValidString(f) {
			return fmt.Errorf("redisstore: subject grant: %w", errGrantNotUTF8)
		}
	}
	data, err := json.Marshal(grantRecord{ID: g.ID, ClientID: g.ClientID, Impersonator: g.Impersonator,
		Created: g.Created.UTC(), Expires: g.Expires.UTC()})
	if err != nil {
		return fmt.Errorf("redisstore: subject grant: %w", errGrantEncode)
	}
	revoked := ""
	if !g.Revoked.IsZero() {
		revoked = g.Revoked.UTC().Format(time.RFC3339Nano)
	}
	ttl := max(g.Expires.Add(grantRetention).Sub(s.now()).Milliseconds(), 1)
	err = s.do(ctx, func(ctx context.Context) error {
		return putGrantScript.Run(ctx, s.c, []string{s.grantsKey(g.Subject)},
			"g:"+g.ID, data, "r:"+g.ID, revoked, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redisstore: subject grant: %w", err)
	}
	return nil
}

// SubjectGrantsOf implements [store.SubjectGrants] with HGETALL.
func (s *Store) SubjectGrantsOf(ctx context.Context, subject string, since time.Time) ([]store.SubjectGrant, error) {
	var fields map[string]string
	err := s.do(ctx, func(ctx context.Context) (err error) {
		fields, err = s.c.HGetAll(ctx, s.grantsKey(subject)).Result()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: subject grants: %w", err)
	}
	out := []store.SubjectGrant{}
	for name, v := range fields {
		id, ok := strings.CutPrefix(name, "g:")
		if !ok {
			continue
		}
		g, err := decodeGrant(subject, id, v, fields["r:"+id])
		if err != nil {
			return nil, fmt.Errorf("redisstore: subject grants: %w", err)
		}
		if g.Expires.After(since) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b store.SubjectGrant) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeSubjectGrant implements [store.SubjectGrants] with one script; an
// unknown grant is an error wrapping [store.ErrNotFound].
func (s *Store) RevokeSubjectGrant(ctx context.Context, subject, id string, at time.Time) (*store.SubjectGrant, error) {
	var res []any
	err := s.do(ctx, func(ctx context.Context) (err error) {
		res, err = revokeGrantScript.Run(ctx, s.c, []string{s.grantsKey(subject)},
			"g:"+id, "r:"+id, at.UTC().Format(time.RFC3339Nano)).Slice()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: revoke subject grant: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: revoke subject grant: %w", err)
	}
	data, _ := res[0].(string)
	revoked, _ := res[1].(string)
	g, err := decodeGrant(subject, id, data, revoked)
	if err != nil {
		return nil, fmt.Errorf("redisstore: revoke subject grant: %w", err)
	}
	return &g, nil
}

// decodeGrant decodes the stored grant id of subject and its revocation
// time (empty for none). A value that does not decode, or belongs to
// another grant, is an error whose text holds nothing of the value.
func decodeGrant(subject, id, data, revoked string) (store.SubjectGrant, error) {
	var r grantRecord
	if err := json.Unmarshal([]byte(data), &r); err != nil || r.ID != id {
		return store.SubjectGrant{}, errGrantCorrupt
	}
	g := store.SubjectGrant{ID: r.ID, Subject: subject, ClientID: r.ClientID, Impersonator: r.Impersonator,
		Created: r.Created.UTC(), Expires: r.Expires.UTC()}
	if revoked != "" {
		t, err := time.Parse(time.RFC3339Nano, revoked)
		if err != nil {
			return store.SubjectGrant{}, errGrantCorrupt
		}
		g.Revoked = t.UTC()
	}
	return g, nil
}
