package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/redisstore"
)

// Two instances of an identity server share one Redis: a subject token
// exchanged on instance A is a replay on instance B. (The example needs the
// Redis server at 127.0.0.1:6379, as the tests do.)
func ExampleStore_Use() {
	ctx := context.Background()
	// A prefix of its own, so the example leaves nothing behind.
	prefix := "actas-example:" + rand.Text() + ":"

	newInstance := func() (*redisstore.Store, func()) {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		s, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			log.Fatal(err)
		}
		return s, func() { _ = rdb.Close() }
	}
	a, closeA := newInstance()
	defer closeA()
	b, closeB := newInstance()
	defer closeB()

	// The library holds a subject token until its expiry plus clock skew.
	exp := time.Now().Add(3 * time.Minute)
	fmt.Println("exchange on A:", a.Use(ctx, "jti-of-the-subject-token", exp))
	err := b.Use(ctx, "jti-of-the-subject-token", exp)
	fmt.Println("exchange on B is a replay:", errors.Is(err, store.ErrAlreadyUsed))

	if err := a.Revoke(ctx, "jti-of-the-access-token", exp); err != nil {
		log.Fatal(err)
	}
	revoked, err := b.Revoked(ctx, "jti-of-the-access-token")
	fmt.Println("revoked on A, seen on B:", revoked, err)

	cleanup := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer cleanup.Close()
	cleanup.Del(ctx, prefix+"jti:jti-of-the-subject-token", prefix+"revoked:jti-of-the-access-token")
	// Output:
	// exchange on A: <nil>
	// exchange on B is a replay: true
	// revoked on A, seen on B: true <nil>
}
