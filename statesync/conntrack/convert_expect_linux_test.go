package conntrack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExpectationConversion(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	e := testExpectation()
	e.Key.Zone, e.Master.Zone = 4, 4
	e.Class, e.Flags, e.NATDir = 1, 2, 1
	e.Expires = uint32(now.Unix()) + 60
	ex, err := ExpectationToExpect(e, now)
	require.NoError(t, err)
	require.Equal(t, uint32(60), ex.Timeout)
	require.Equal(t, "ftp\x00", ex.HelpName, "NUL-terminated for the kernel")
	require.Zero(t, ex.Tuple.Zone, "the zone goes in CTA_EXPECT_ZONE")
	ex.HelpName, ex.Function = "ftp", "nat-follow-master" // as the kernel reports them
	got, err := ExpectToExpectation(ex, now)
	require.NoError(t, err)
	require.Equal(t, e, got)

	ex.Tuple.Proto.Protocol = protoICMP
	_, err = ExpectToExpectation(ex, now)
	require.ErrorIs(t, err, ErrUnsupportedFlow)
	ex.Tuple.Proto.Protocol, ex.Function = protoTCP, "mystery"
	_, err = ExpectToExpectation(ex, now)
	require.ErrorIs(t, err, ErrUnsupportedFlow)
}
