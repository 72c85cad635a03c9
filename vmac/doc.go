// Package vmac derives the virtual MAC addresses a cluster presents to the
// network, detects another cluster using the same identity, and (on Linux)
// moves the cluster's MAC and virtual IP addresses onto a unit's interfaces
// at takeover.
package vmac
