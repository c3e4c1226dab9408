package postgres_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// proxy forwards TCP connections to PostgreSQL until cut, and again once
// restored: the database going away in the middle of a run.
type proxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{l: l, target: target}
	t.Cleanup(func() {
		_ = l.Close()
		p.cut()
	})
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.down { // cut while dialling
			p.mu.Unlock()
			_, _ = c.Close(), u.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
		go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func TestFailClosedWhileTheDatabaseIsGoneThenRecovers(t *testing.T) {
	t.Parallel()
	direct := connect(t)
	schema := newSchema(t, direct)

	cfg, err := pgxpool.ParseConfig(dsn())
	require.NoError(t, err)
	p := newProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, err := net.SplitHostPort(p.l.Addr().String())
	require.NoError(t, err)
	portN, err := strconv.Atoi(port)
	require.NoError(t, err)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(portN)
	cfg.ConnConfig.Fallbacks = nil
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	s, err := postgres.New(pool, postgres.WithSchema(schema), postgres.WithTimeout(500*time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.Use(ctx, "jti-before", exp))
	require.NoError(t, s.PutSession(ctx, sampleSession(time.Now(), "login-before", time.Hour)))

	p.cut()
	for i := range 20 {
		jti := fmt.Sprint("jti-during-", i)
		err := s.Use(ctx, jti, exp)
		require.Error(t, err, "nothing is accepted while the database is gone")
		assert.NotErrorIs(t, err, store.ErrAlreadyUsed)
		_, err = s.Revoked(ctx, "at")
		require.Error(t, err, "never 'not revoked' when it cannot know")
		require.Error(t, s.Record(ctx, sampleEvent(time.Now(), jti)))
		_, err = s.SessionFor(ctx, "login-before")
		require.Error(t, err)
		assert.NotErrorIs(t, err, store.ErrNotFound, "never 'no session' when it cannot know")
		require.Error(t, s.PutSession(ctx, sampleSession(time.Now(), fmt.Sprint("login-during-", i), time.Hour)))
		require.Error(t, s.DeleteSession(ctx, "login-before"))
	}

	p.restore()
	var lastErr error
	for range 5 { // idle connections that died with the cut are dropped as they are tried
		if lastErr = s.Use(ctx, "jti-after", exp); lastErr == nil {
			break
		}
	}
	require.NoError(t, lastErr, "the Store serves again once the database is back")
	assert.ErrorIs(t, s.Use(ctx, "jti-before", exp), store.ErrAlreadyUsed, "state survived")
	assert.NoError(t, s.Use(ctx, "jti-during-0", exp), "a Use that failed consumed nothing")
	_, err = s.SessionFor(ctx, "login-before")
	assert.NoError(t, err, "the session survived, and a failed DeleteSession removed nothing")
	_, err = s.SessionFor(ctx, "login-during-0")
	assert.ErrorIs(t, err, store.ErrNotFound, "a PutSession that failed stored nothing")
}
