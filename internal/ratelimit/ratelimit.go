// Package ratelimit counts events per key in fixed windows, in process
// memory: the default behind impersonation's start limit and
// store/memory's RateLimiter.
package ratelimit

import (
	"sync"
	"time"
)

// Counter is a fixed-window counter per key. The zero value is ready; it
// is safe for concurrent use. Windows that have ended are swept when the
// map has doubled since the last sweep, so memory stays bounded by the
// keys active within one window.
type Counter struct {
	mu        sync.Mutex
	windows   map[string]window
	nextSweep int
}

type window struct {
	end   time.Time
	count int
}

const sweepFloor = 1024

// Allow counts one event for key at now in the window of length per that
// contains it and reports whether the count is within limit.
func (c *Counter) Allow(key string, limit int, per time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.windows == nil {
		c.windows = map[string]window{}
		c.nextSweep = sweepFloor
	}
	w, ok := c.windows[key]
	if !ok || !now.Before(w.end) {
		if len(c.windows) >= c.nextSweep {
			for k, v := range c.windows {
				if !now.Before(v.end) {
					delete(c.windows, k)
				}
			}
			c.nextSweep = max(2*len(c.windows), sweepFloor)
		}
		w = window{end: now.Truncate(per).Add(per)}
	}
	w.count++
	c.windows[key] = w
	return w.count <= limit
}

// Len returns the number of keys held, for tests of boundedness.
func (c *Counter) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.windows)
}
