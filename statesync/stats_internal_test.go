package statesync

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatsAddCoversEveryField: the Driver's sums over its peers miss no
// counter.
func TestStatsAddCoversEveryField(t *testing.T) {
	ones := func(v any) {
		rv := reflect.ValueOf(v).Elem()
		for i := range rv.NumField() {
			rv.Field(i).SetUint(1)
		}
	}
	var s, so SenderStats
	ones(&so)
	s.add(so)
	require.Equal(t, so, s)
	var r, ro ReceiverStats
	ones(&ro)
	r.add(ro)
	require.Equal(t, ro, r)
}
