package ratelimit_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/actas/actas/internal/ratelimit"
)

func TestCounterFixedWindow(t *testing.T) {
	t.Parallel()
	var c ratelimit.Counter
	now := time.Unix(1_800_000_000, 0) // a minute boundary
	for i := range 3 {
		assert.True(t, c.Allow("alice", 3, time.Minute, now.Add(time.Duration(i)*time.Second)), "event %d", i+1)
	}
	assert.False(t, c.Allow("alice", 3, time.Minute, now.Add(10*time.Second)), "the fourth in the window")
	assert.True(t, c.Allow("bob", 3, time.Minute, now.Add(10*time.Second)), "keys are counted apart")
	assert.True(t, c.Allow("alice", 3, time.Minute, now.Add(time.Minute)), "a new window")
}

func TestCounterConcurrentExactLimit(t *testing.T) {
	t.Parallel()
	var c ratelimit.Counter
	now := time.Unix(1_800_000_000, 0)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Allow("k", 10, time.Minute, now) {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(10), allowed.Load())
}

func TestCounterStaysBounded(t *testing.T) {
	t.Parallel()
	var c ratelimit.Counter
	now := time.Unix(1_800_000_000, 0)
	for i := range 50_000 {
		c.Allow("k"+strconv.Itoa(i), 1, time.Minute, now.Add(time.Duration(i)*10*time.Millisecond))
	}
	// 100 new keys a second, one-minute windows: about 6 000 live keys.
	assert.LessOrEqual(t, c.Len(), 4*6000)
}
