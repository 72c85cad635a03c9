package statesync

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkRecordAppend(b *testing.B) {
	r := record{recordOp: opUpsert, Session: testSession(1)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = r.AppendBinary(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkRecordDecode(b *testing.B) {
	buf, _ := record{recordOp: opUpsert, Session: testSession(10)}.MarshalBinary()
	var r record
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := r.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// nopTransport counts what is written and never delivers anything.
type nopTransport struct {
	writes, bytes atomic.Uint64
	done          chan struct{}
}

func (t *nopTransport) ReadFrom([]byte) (int, net.Addr, error) {
	<-t.done
	return 0, nil, net.ErrClosed
}
func (t *nopTransport) WriteTo(b []byte, _ net.Addr) (int, error) {
	t.writes.Add(1)
	t.bytes.Add(uint64(len(b)))
	return len(b), nil
}
func (t *nopTransport) Close() error { close(t.done); return nil }

// BenchmarkDriverUpsert measures a session update from the API call
// (Driver.Upsert: table, record, datagram, HMAC) to the transport's
// WriteTo. Run with -cpu 1 for the one-core figure.
func BenchmarkDriverUpsert(b *testing.B) {
	for _, auth := range []bool{false, true} {
		name := "noauth"
		var key []byte
		if auth {
			name, key = "hmac", []byte("0123456789abcdef0123456789abcdef")
		}
		b.Run(name, func(b *testing.B) {
			tr := &nopTransport{done: make(chan struct{})}
			tab := NewTable(1 << 16)
			d, err := NewDriver(&DriverConfig{Transport: tr, Table: tab, TickInterval: time.Hour,
				Send: true, Sender: &SenderConfig{MTU: 1500}, Keys: testKeys(b, key)})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ss := make([]Session, 1<<16)
			for i := range ss {
				ss[i] = testSession(i)
			}
			b.ReportAllocs()
			i := 0
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				d.Upsert(ss[i&(1<<16-1)])
				i++
				if i&(1<<12-1) == 0 {
					// Acknowledge everything, as a live receiver would,
					// so that the window never overflows.
					d.mu.Lock()
					d.links[0].s.acked = d.links[0].s.next - 1
					d.mu.Unlock()
				}
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "updates/s")
			b.ReportMetric(float64(i)/(cpuTime()-cpu0).Seconds(), "updates/cpu-s")
			if tr.writes.Load() == 0 {
				b.Fatal("nothing written")
			}
		})
	}
}

// BenchmarkReceiverApply measures records applied per second on the
// receiving side: Receiver.Step of in-order datagrams (validate, decode,
// store) into a table.
func BenchmarkReceiverApply(b *testing.B) {
	for _, auth := range []bool{false, true} {
		name := "noauth"
		var key []byte
		if auth {
			name, key = "hmac", []byte("0123456789abcdef0123456789abcdef")
		}
		b.Run(name, func(b *testing.B) {
			src := NewTable(0)
			s, _ := NewSender(t0, &SenderConfig{Table: src, MTU: 1500, Keys: testKeys(b, key), Window: 1 << 16})
			s.peerNonce = 1 // every receiver below takes it as its own
			var dgrams [][]byte
			records := 0
			for i := range 100_000 {
				s.Upsert(t0, src.Upsert(testSession(i)))
				records++
				for _, d := range s.Output(nil) {
					dgrams = append(dgrams, append([]byte(nil), d...))
				}
			}
			s.Flush(t0)
			for _, d := range s.Output(nil) {
				dgrams = append(dgrams, append([]byte(nil), d...))
			}
			dst := NewTable(200_000)
			b.ReportAllocs()
			applied := 0
			var elapsed, cpu time.Duration
			for b.Loop() {
				r, _ := NewReceiver(t0, &ReceiverConfig{Table: dst, Keys: testKeys(b, key), Window: 1 << 16})
				introduce(s, r)
				start, cpu0 := time.Now(), cpuTime()
				for _, d := range dgrams {
					if err := r.Step(t0, d); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				applied += int(r.Stats().Records)
			}
			b.ReportMetric(float64(applied)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(applied)/cpu.Seconds(), "records/cpu-s")
			b.ReportMetric(float64(records)/float64(len(dgrams)), "records/datagram")
		})
	}
}
