package heartbeat

import "fmt"

// checkInterface drops a frame whose Interface field (the sender's index
// of the link it sent on, authenticated with the frame) is not i, the
// index of the link it arrived on: every unit of a cluster lists its
// heartbeat interfaces in the same order, one per segment, so a frame
// sent on another segment was relayed, and taking it would hide the
// broken link it stands in for.
func (m *Machine) checkInterface(f *Frame, i int) error {
	if int(f.Interface) == i {
		return nil
	}
	m.c.Dropped.WrongInterface++
	return fmt.Errorf("heartbeat: unit %d's frame of its interface %d arrived on %q, interface %d: %w",
		f.UnitID, f.Interface, m.ports[i].name, i, ErrMalformed)
}

// admitPeer drops a frame of a new unit when MaxPeers are known.
func (m *Machine) admitPeer(f *Frame) error {
	if len(m.peers) < m.cfg.MaxPeers {
		return nil
	}
	m.c.Dropped.PeerLimit++
	return fmt.Errorf("heartbeat: frame of unit %d dropped: %d peers known, the most MaxPeers allows: %w",
		f.UnitID, len(m.peers), ErrMalformed)
}
