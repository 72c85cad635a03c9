package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/vmac"
)

// maxClusterName bounds -cluster-name.
const maxClusterName = 64

// clusterNameFlag registers -cluster-name: with the key, it makes the
// cluster tag of every heartbeat, which tells apart two clusters given one
// cluster ID by mistake (see heartbeat.ClusterTag).
func clusterNameFlag(fs *flag.FlagSet) *string {
	return fs.String("cluster-name", "", "this cluster's name, the same on each of its units: with the key it tells this cluster's heartbeats apart from another cluster's given the same -cluster-id (a copied configuration): give each cluster its own")
}

// checkClusterName checks the -cluster-name value.
func checkClusterName(name string) error {
	if len(name) > maxClusterName {
		return fmt.Errorf("-cluster-name: %d bytes, at most %d", len(name), maxClusterName)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return fmt.Errorf("-cluster-name %q: not printable", name)
	}
	return nil
}

// localMAC returns hakit's own virtual MAC of the n-th virtual-address
// interface: vmac.LocalMAC(cluster, n), 02:00:00:<cluster>:<n>, and with
// -cluster-name its second and third bytes from a hash of the name, so
// that two clusters given one cluster ID but their own names do not put
// one MAC on one segment (a switch can place it on one port only).
func (c *config) localMAC(n int) (net.HardwareAddr, error) {
	mac, err := vmac.LocalMAC(c.ClusterID, n)
	if err != nil || c.ClusterName == "" {
		return mac, err
	}
	sum := sha256.Sum256([]byte("hakit virtual MAC v1\x00" + c.ClusterName))
	mac[1], mac[2] = sum[0], sum[1]
	return mac, nil
}

// CollisionStatus is a sign that another cluster on a segment uses this
// cluster's ID (heartbeat.Collision).
type CollisionStatus struct {
	Kind      string    `json:"kind"` // other-cluster-tag, own-unit-id or two-sources
	Interface string    `json:"interface"`
	Unit      uint16    `json:"unit"` // the unit ID the other cluster's frames claim
	Reason    string    `json:"reason"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Frames    uint64    `json:"frames"`
}

func collisionStatus(cs []heartbeat.Collision) []CollisionStatus {
	var out []CollisionStatus
	for _, c := range cs {
		out = append(out, CollisionStatus{Kind: c.Kind.String(), Interface: c.Interface, Unit: c.Unit,
			Reason: c.Reason, First: c.First, Last: c.At, Frames: c.Frames})
	}
	return out
}
