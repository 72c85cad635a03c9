// Command cloudpair is a cloud-style pair in one process, with no root:
// two units with heartbeats over loopback UDP, a witness on an etcd
// server embedded in the program, and an announcer that moves a route
// through a stand-in for a cloud API with the fencing token. It cuts the
// heartbeats both ways (a partition: exactly one unit stays primary, the
// other says why it stays standby), heals them, kills the primary (the
// standby takes the lease and the route with a newer token), and lets the
// dead primary's late write arrive (refused), as a timeline.
//
//	go run ./examples/cloudpair
//
// The part an appliance author writes is unit.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/loopback"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cloudpair:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	dir, err := os.MkdirTemp("", "cloudpair")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, endpoint, err := startEtcd(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	tl := loopback.NewTimeline(w)
	tl.Say("etcd", "serving on "+endpoint)
	cloud := &Cloud{say: func(s string) { tl.Say("cloud", s) }}
	keys, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("an example key, 32 bytes long!!!")})
	if err != nil {
		return err
	}
	ports, err := loopback.FreeUDP(2)
	if err != nil {
		return err
	}

	var units [2]*member.Driver
	var links [2]*loopback.Cuttable
	for i := range units {
		id := uint16(i + 1)
		name := fmt.Sprintf("unit%d", id)
		client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer client.Close()
		conn, err := heartbeat.ListenUDP(ports[i], ports[1-i])
		if err != nil {
			return err
		}
		links[i] = &loopback.Cuttable{Conn: conn}
		onEvent := func(e member.Event) {
			switch e.Kind {
			case member.EventRoleChange:
				tl.Say(name, fmt.Sprintf("%v (%s)", e.To, e.Reason))
			case member.EventWitness:
				tl.Say(name, "witness: "+e.Reason)
			case member.EventHeartbeat:
				if e.State.Verdict() {
					tl.Say(name, e.String())
				}
			case member.EventStepFailed:
				tl.Say(name, e.String())
			}
		}
		d, wd, err := startUnit(id, links[i], client, cloud, keys, onEvent)
		if err != nil {
			return err
		}
		defer wd.Close()
		defer d.Close()
		units[i] = d
	}
	unit1, unit2 := units[0], units[1]

	if err := loopback.Wait(10*time.Second, func() bool { return cloud.points("eni-unit1") }); err != nil {
		return fmt.Errorf("unit1 primary, the route at it: %w", err)
	}
	stale := unit1.Status().Witness.Token

	tl.Say("", "partition: heartbeats cut both ways, etcd reachable by both")
	links[0].Cut.Store(true)
	links[1].Cut.Store(true)
	if err := loopback.Wait(5*time.Second, func() bool { return unit2.Status().Witness.CutOff }); err != nil {
		return fmt.Errorf("unit2 notices: %w", err)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if unit2.Role() == hakit.Primary {
			return errors.New("unit2 became primary in the partition")
		}
	}
	tl.Say("", fmt.Sprintf("after 1s: unit1 %v, unit2 %v", unit1.Role(), unit2.Role()))
	tl.Say("", "healed")
	links[0].Cut.Store(false)
	links[1].Cut.Store(false)
	if err := loopback.Wait(5*time.Second, func() bool { return !unit2.Status().Witness.CutOff }); err != nil {
		return fmt.Errorf("unit2 hears unit1 again: %w", err)
	}

	tl.Say("unit1", "killed (closed without a handover)")
	unit1.Close()
	if err := loopback.Wait(10*time.Second, func() bool { return cloud.points("eni-unit2") }); err != nil {
		return fmt.Errorf("unit2 primary, the route at it: %w", err)
	}
	tl.Say("unit1", fmt.Sprintf("its write of the route, held up in the network, arrives (token %d)", stale))
	err = routeAnnouncer{cloud, "eni-unit1"}.Announce(context.Background(), garp.Move{Addrs: []netip.Addr{vip}, Token: stale})
	if err == nil {
		return errors.New("the stale write was taken")
	}
	if !cloud.points("eni-unit2") {
		return errors.New("the route moved back")
	}
	tl.Say("", "done: the route points at unit2")
	return nil
}

// points reports whether the route points at target.
func (c *Cloud) points(target string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target == target
}

// startEtcd starts a single-member etcd server on loopback with its data
// in dir, and returns its client endpoint.
func startEtcd(dir string) (*embed.Etcd, string, error) {
	addrs, err := loopback.FreeTCP(2)
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "cloudpair"
	cfg.Dir = dir
	client, peer := url.URL{Scheme: "http", Host: addrs[0]}, url.URL{Scheme: "http", Host: addrs[1]}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // a demonstration's data
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, client.Host, nil
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, "", errors.New("etcd not ready after 30s")
	}
}
