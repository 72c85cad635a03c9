package witness_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/hakit/hakit/election/witness"
)

// route stands for the cloud resource an Announcer writes: a route table
// entry, or the attachment of a secondary address. It takes a write only if
// the writer's fencing token is not older than the newest it has seen, the
// way a cloud API's conditional update does (a version precondition, a tag
// compared in a condition expression, an If-Match etag over a token field).
type route struct {
	mu     sync.Mutex
	target string
	token  uint64
}

// Set points the route at target, on behalf of the holder of token.
func (r *route) Set(target string, token uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case token < r.token:
		return fmt.Errorf("refused: token %d is older than the route's %d", token, r.token)
	case token == r.token && target == r.target:
		return nil // the same announcement again: nothing to do
	}
	r.target, r.token = target, token
	return nil
}

func result(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// A stale primary's late write is refused. Unit 1 holds the lease and
// points the route at itself; then it stalls with its write prepared, and
// its lease runs out meanwhile (here Memory.Expire; for real, a pause
// longer than the lease's TTL). Unit 2 takes the lease with a larger token
// and points the route at itself. When unit 1 wakes up and sends its write,
// the route refuses it. Announcing again with the same token is a no-op:
// announcers are idempotent, so a refresh or a retry is always safe.
func Example() {
	arbiter := witness.NewMemory(nil)
	unit1, _ := witness.New(arbiter.Store(1), nil)
	unit2, _ := witness.New(arbiter.Store(2), nil)
	defer unit1.Close()
	defer unit2.Close()
	ctx := context.Background()
	rt := &route{}

	s1, _ := unit1.Acquire(ctx)
	fmt.Println("unit 1:", s1.Reason)
	fmt.Println("unit 1 announces:", result(rt.Set("unit 1", s1.Token)))
	fmt.Println("unit 1 announces again:", result(rt.Set("unit 1", s1.Token)))

	arbiter.Expire() // unit 1 is stalled, its write in hand
	s2, _ := unit2.Acquire(ctx)
	fmt.Println("unit 2:", s2.Reason)
	fmt.Println("unit 2 announces:", result(rt.Set("unit 2", s2.Token)))

	fmt.Println("unit 1's late write:", result(rt.Set("unit 1", s1.Token)))
	fmt.Printf("the route points at %s (token %d)\n", rt.target, rt.token)
	// Output:
	// unit 1: holding the lease (token 1)
	// unit 1 announces: ok
	// unit 1 announces again: ok
	// unit 2: holding the lease (token 2)
	// unit 2 announces: ok
	// unit 1's late write: refused: token 1 is older than the route's 2
	// the route points at unit 2 (token 2)
}
