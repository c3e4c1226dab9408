package testkit

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Alternate makes n calls of f concurrently, each on its own goroutine,
// call i on a when i is even and on b when it is odd (two instances of a
// store racing), and waits for them all.
func Alternate[S any](n int, a, b S, f func(i int, s S)) {
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { f(i, s) })
	}
	wg.Wait()
}

// AssertOneWinner checks the errors of racing calls of which exactly one
// may succeed: exactly one is nil and every other wraps lost.
func AssertOneWinner(t testing.TB, errs []error, lost error, msgAndArgs ...any) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		assert.ErrorIs(t, err, lost, msgAndArgs...)
	}
	assert.Equal(t, 1, wins, msgAndArgs...)
}
