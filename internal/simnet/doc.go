// Package simnet simulates an Ethernet segment: a learning switch with ports
// whose cables can be made lossy, slow, reordering, cut or partitioned, for
// hakit's unit tests and its in-memory cluster simulation.
//
// # The model
//
// A Segment is one switch. Attach plugs in a Port, which is a NIC and its
// cable; a Port is a net.PacketConn carrying whole Ethernet frames
// (destination MAC, source MAC, EtherType, payload; no FCS), like an
// AF_PACKET SOCK_RAW socket from github.com/mdlayher/packet, so code written
// against one runs on the other. ReadFrom reports a frame's source as a
// *packet.Addr.
//
// When a port writes a frame, the frame crosses the port's cable (its loss,
// latency and reordering apply), then the switch learns the source MAC on
// that port (unless it is a group address) and forwards: a unicast
// destination it has learned goes to that one port; broadcast, multicast
// and unknown unicast are flooded to every other port. A frame is never sent
// back to the port it came from. On the way out it crosses the receiving
// port's cable (its faults apply again) and NIC filter, which lets in frames
// for the port's own MACs (HardwareAddr and AddHardwareAddr), broadcast and
// multicast, or everything when promiscuous. FDB and Lookup show what the
// switch has learned, which is how a test sees a virtual MAC move or a
// gratuitous ARP take effect. Learned entries last forever or, with
// Config.AgeingTime, until the address has been silent that long.
//
// Faults are per port: SetLoss drops frames at random from a source seeded
// by Config.Seed (the same seed and the same writes drop the same frames),
// SetLatency delays them, SetReorder delays some of them further so that
// later frames overtake them, and Cut/Heal pull and replug the cable (the
// switch flushes what it learned on a cut port). Segment.Isolate splits the
// switch into partitions that reach only themselves, until Join. Without
// latency or reordering, frames between two ports arrive in the order sent.
// Every drop is counted, by reason, in Port.Stats.
//
// # Time and delivery
//
// Delivery runs on the segment's clock (Config.Clock, the real clock by
// default). A port either queues its frames for ReadFrom (a bounded queue,
// like a NIC ring: overflow is a counted drop) or, after SetHandler, gets
// them by a call to its handler on the clock's callback goroutine. Handled
// frames always go through the clock, even at zero latency, so a handler
// that writes never recurses and handlers never run concurrently.
//
// On a *clock.Sim everything is single-threaded and deterministic: the
// caller's loop attaches ports with handlers, writes the first frames and
// advances the clock.
//
//	sim := clock.NewSim(time.Time{})
//	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
//	a := seg.Attach("a", macA)
//	a.SetHandler(func(frame []byte, src net.HardwareAddr) { ... a.WriteTo(reply, nil) ... })
//	...
//	sim.RunFor(10 * time.Second)
//
// Inside a testing/synctest bubble, create the segment inside the bubble
// with the real clock; blocking ReadFrom, deadlines and latency then run on
// the bubble's virtual time and are exact.
package simnet
