// Command firstcluster is a user's first cluster, in one process and with
// no root: two units over loopback UDP, heartbeats and session sync
// authenticated, a custom announcer that prints. It inserts sessions on
// the primary, kills the primary (closes it without a handover), and shows
// the standby take over with every session, as a timeline.
//
//	go run ./examples/firstcluster
//
// The part an appliance author writes is unit.go; this file plays the
// scenario around it.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/statesync"
)

func main() {
	if err := run(os.Stdout, 1000); err != nil {
		fmt.Fprintln(os.Stderr, "firstcluster:", err)
		os.Exit(1)
	}
}

// timeline prints what happened, with the time since the start.
type timeline struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (t *timeline) say(who, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "+%6.3fs  %-7s %s\n", time.Since(t.start).Seconds(), who, what)
}

// run plays the scenario with n sessions.
func run(w io.Writer, n int) error {
	tl := &timeline{w: w, start: time.Now()}
	keys, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("an example key, 32 bytes long!!!")})
	if err != nil {
		return err
	}
	addrs, err := freePorts(4)
	if err != nil {
		return err
	}
	var units [2]*member.Driver
	events := make(chan member.Event, 64)
	for i, p := range []ports{
		{heartbeat: addrs[0], peerHeartbeat: addrs[1], sync: addrs[2], peerSync: addrs[3]},
		{heartbeat: addrs[1], peerHeartbeat: addrs[0], sync: addrs[3], peerSync: addrs[2]},
	} {
		name := fmt.Sprintf("unit%d", i+1)
		say := func(s string) { tl.say(name, s) }
		onEvent := func(e member.Event) {
			switch e.Kind {
			case member.EventRoleChange:
				say(fmt.Sprintf("%v (%s)", e.To, e.Reason))
			case member.EventTakeover:
				say("takeover complete: " + phases(e.Takeover))
			case member.EventStepFailed:
				say(e.String())
			}
			if i == 1 {
				events <- e
			}
		}
		if units[i], err = startUnit(uint16(i+1), p, keys, say, onEvent); err != nil {
			return err
		}
		defer units[i].Close()
	}
	primary, standby := units[0], units[1]
	defer tl.say("", "done: closing unit2")

	if err := wait(5*time.Second, func() bool {
		return primary.Role() == hakit.Primary && standby.Status().InSync
	}); err != nil {
		return fmt.Errorf("unit1 primary and unit2 in sync: %w", err)
	}
	for i := range n {
		primary.Upsert(statesync.Session{Key: key(i), State: 3})
	}
	tl.say("unit1", fmt.Sprintf("%d sessions inserted", n))
	if err := wait(5*time.Second, func() bool { return standby.Table().Len() == n }); err != nil {
		return fmt.Errorf("sessions replicated: %w", err)
	}
	tl.say("unit2", fmt.Sprintf("holds the %d sessions", standby.Table().Len()))

	killed := time.Now()
	tl.say("unit1", "killed: closed without a handover")
	primary.Close()
	var tk *member.Takeover
	for tk == nil {
		select {
		case e := <-events:
			tk = e.Takeover
		case <-time.After(5 * time.Second):
			return errors.New("unit2 did not take over")
		}
	}
	kept := 0
	for i := range n {
		if _, ok := standby.Table().Get(key(i)); ok {
			kept++
		}
	}
	tl.say("unit2", fmt.Sprintf("primary %v after the kill, with %d of %d sessions", tk.Done.Sub(killed).Round(time.Millisecond), kept, n))
	if kept != n {
		return fmt.Errorf("%d of %d sessions kept", kept, n)
	}
	return nil
}

// phases returns the takeover's phases in words, to 0.1 ms.
func phases(t *member.Takeover) string {
	s := fmt.Sprint(t.Total().Round(100*time.Microsecond), " in all:")
	for _, p := range t.Phases() {
		s += fmt.Sprintf(" %s %v", p.Name, p.Duration.Round(100*time.Microsecond))
	}
	return s
}

// key is session i: a TCP connection from a client to a server.
func key(i int) statesync.Key {
	return statesync.Key{Proto: 6,
		Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.1.10"), uint16(10000+i)),
		Dst: netip.AddrPortFrom(netip.MustParseAddr("198.19.0.1"), 443)}
}

// wait polls ok until it holds or d has passed.
func wait(d time.Duration, ok func() bool) error {
	for end := time.Now().Add(d); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			return fmt.Errorf("not after %v", d)
		}
	}
	return nil
}

// freePorts returns n loopback UDP addresses free a moment ago.
func freePorts(n int) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
		c.Close()
	}
	return out, nil
}
