// Package testbed builds real Linux networks for privileged tests: hosts
// (network namespaces) cabled by veth pairs to Linux bridges (the
// switches, each alone in its own namespace), with the kernel's neighbour
// tables, bridge forwarding tables and nftables as the observers and the
// fault injectors.
//
// # Writing a privileged test
//
// Privileged tests live in _linux_test.go files and start with New, which
// skips the test when the process is not root or ip, bridge or nft is
// missing, and fails it instead when CI=true (CI must run them):
//
//	func TestFailover(t *testing.T) {
//		bed := testbed.New(t)
//		lan := bed.Bridge("lan")
//		a, b := bed.Host("a"), bed.Host("b")
//		la := bed.Link(a, lan, "eth0") // eth0 in a, a port of lan
//		bed.Link(b, lan, "eth0")
//		a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.1/24"))
//		b.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
//
//		var conn *packet.Conn
//		err := a.Do(func() error { // runs inside a's namespace
//			ifi, err := net.InterfaceByName("eth0")
//			if err != nil {
//				return err
//			}
//			conn, err = packet.Listen(ifi, packet.Raw, 0xC14B, nil)
//			return err
//		})
//		require.NoError(t, err)
//		t.Cleanup(func() { conn.Close() }) // conn stays in a's namespace
//
//		defer lan.Loss(0.2)() // drop 20% of the frames lan forwards
//		la.Down()             // pull a's cable at the switch
//		out, err := b.Run("ping", "-c", "1", "198.18.0.1")
//		…
//		_ = b.Neighbours("eth0") // b's ARP/NDP table
//		_ = lan.FDB()            // which MAC lan learnt on which port
//	}
//
// Setup methods (Host, Bridge, Link, AddAddr, Down, Loss, FDB…) return no
// error: a failing step calls t.Fatal with the command line and its output,
// so they must be called from the test's goroutine. Run and Do return
// errors, for the steps the test itself is about.
//
// Do runs Go code on an OS thread inside a host's namespace. Sockets it
// opens stay in that namespace for their life and can be used from any
// goroutine afterwards; goroutines it starts do not inherit the namespace.
// After an interface went down and up, a packet socket bound to it returns
// ENETDOWN once from its next call: that is the kernel's doing, and real
// drivers meet it too.
//
// # Names and cleanup
//
// Each namespace is named hk-<pid>-<n>-<name> (switches hk-<pid>-<n>-sw-<name>),
// n counting up within the process, so tests running in parallel, in
// several packages or in several runs never collide, and ip netns list shows
// what belongs to whom. A bridge port is named <host>-<ifname> when that fits
// in 15 bytes, p<n> otherwise. Interface and bridge names are at most 15
// bytes.
//
// New registers the removal with t.Cleanup, which runs also when the test
// fails or panics: started commands are killed and every namespace is
// deleted, which removes its veths, bridges and nftables tables. Nothing is
// created in the root namespace. A process killed before its cleanup ran
// (a go test timeout, SIGKILL) leaves its namespaces behind; the next
// process to create a Bed deletes those whose process is gone and that are
// over a minute old. Close sockets opened with Do before the test ends
// (t.Cleanup registered after New runs first): an open socket keeps its
// namespace alive in the kernel after its name is gone.
//
// # Programs
//
// Open gives the same Bed to a program, such as a benchmark that runs as
// root outside go test. Its setup methods panic with a clear message when a
// step fails; the program defers Close, which removes everything and is
// safe to call twice:
//
//	bed, err := testbed.Open("failover-bench")
//	if err != nil {
//		log.Fatal(err) // wraps ErrNeedRoot, ErrMissingTool or ErrNotSupported
//	}
//	defer bed.Close()
//
// # Addresses
//
// Tests use only 198.18.0.0/15 (the benchmarking range) and 2001:db8::/32
// (the documentation range), and only inside namespaces they created;
// AddAddr refuses anything else. Nothing a test bed does touches the root
// namespace or sends traffic outside the bed.
//
// The bed runs on Linux only; elsewhere New skips (fails under CI=true) and
// Open returns an error wrapping ErrNotSupported.
package testbed
