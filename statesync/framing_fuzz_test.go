package statesync

import (
	"bytes"
	"net"
	"testing"
)

// FuzzEthernetFraming: every frame read from the raw Ethernet sync socket
// is the peer's datagram (the bytes after the header) or counted once as
// dropped: too short, another EtherType, another source.
func FuzzEthernetFraming(f *testing.F) {
	src, dst := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	good := append(append(append([]byte{}, src...), dst...), byte(EtherType>>8), byte(EtherType&0xff), 1, 2, 3)
	f.Add(good)
	f.Add(good[:13])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		tr := NewEthernetTransport(nil, src, dst, 0)
		p, _ := tr.payload(frame)
		st := tr.Stats()
		drops := st.Short + st.OtherType + st.OtherPeer
		switch {
		case p == nil && drops != 1:
			t.Fatalf("%x dropped, counted %d times (%+v)", frame, drops, st)
		case p != nil && (drops != 0 || len(frame) < 14 || !bytes.Equal(p, frame[14:]) || !bytes.Equal(frame[6:12], dst)):
			t.Fatalf("%x taken as %x (%+v)", frame, p, st)
		}
		if p != nil {
			var h header
			_ = h.UnmarshalBinary(p)
		}
	})
}
