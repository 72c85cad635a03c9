package statesync

import (
	"reflect"
	"testing"
	"time"
)

// sumStats adds up every counter of a stats struct.
func sumStats(v any) (n uint64) {
	r := reflect.ValueOf(v)
	for i := range r.NumField() {
		if f := r.Field(i); f.Kind() == reflect.Uint64 {
			n += f.Uint()
		}
	}
	return n
}

// FuzzDriverReceive: any datagram that reaches a Driver, point to point or
// from named peers, is counted exactly once: by the driver (too short, for
// a half it does not run, another cluster, an unknown unit) or by the half
// that took it (applied, a duplicate, or dropped for a reason); nothing
// panics.
func FuzzDriverReceive(f *testing.F) {
	keys := testKeys(f, []byte("fuzz key"))
	src := NewTable(0)
	s, err := NewSender(t0, &SenderConfig{Table: src, Keys: keys, Cluster: 7})
	if err != nil {
		f.Fatal(err)
	}
	src.Upsert(testSession(1))
	s.Upsert(t0, testSession(1))
	s.Tick(t0.Add(time.Second))
	for _, b := range s.Output(nil) {
		f.Add(append([]byte(nil), b...))
	}
	ack := make([]byte, headerLen)
	ack[0], ack[1], ack[2], ack[3] = magic[0], magic[1], Version, byte(typeAck)
	f.Add(ack)
	f.Add([]byte{'h', 's'})
	f.Add([]byte{})

	var drivers []*Driver
	for _, c := range []DriverConfig{
		{Send: true, Receive: true, Cluster: 7},
		{Receive: true, Cluster: 7},
		{Send: true, Receive: true, Cluster: 7, Unit: 2, Peers: []Peer{{Unit: 1}, {Unit: 3}}},
	} {
		c.Transport = &nopTransport{done: make(chan struct{})}
		c.Table, c.Keys, c.TickInterval = NewTable(0), keys, time.Hour
		d, err := NewDriver(&c)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { d.Close() })
		drivers = append(drivers, d)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, d := range drivers {
			count := func() (driver, cores uint64) {
				st := d.Stats()
				return st.Short + st.Ignored + st.Foreign + st.Unknown,
					sumStats(d.SenderStats()) + sumStats(d.ReceiverStats())
			}
			d0, c0 := count()
			d.receive(b)
			d1, c1 := count()
			switch {
			case d1-d0 > 1, d1-d0 == 1 && c1 != c0, d1 == d0 && c1 == c0:
				t.Fatalf("driver %d: %x counted %d times by the driver, the halves' counters %d → %d", i, b, d1-d0, c0, c1)
			}
		}
	})
}
