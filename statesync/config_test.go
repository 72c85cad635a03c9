package statesync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestConfigDefaults(t *testing.T) {
	tab := NewTable(0)
	require.Equal(t, *DefaultSenderConfig(), (*SenderConfig)(nil).withDefaults())
	s := (&SenderConfig{Table: tab}).withDefaults()
	require.Equal(t, 1472, s.MTU)
	require.Equal(t, 20*time.Millisecond, s.RetransmitTimeout)
	require.NoError(t, (&SenderConfig{Table: tab}).Validate())
	r := (&ReceiverConfig{Table: tab}).withDefaults()
	require.Equal(t, time.Second, r.Timeout)
	require.NoError(t, (&ReceiverConfig{Table: tab}).Validate())
	d := (&DriverConfig{}).withDefaults()
	require.Equal(t, time.Millisecond, d.TickInterval)
	require.NotNil(t, d.Clock)

	for name, err := range map[string]error{
		"sender nil":        (*SenderConfig)(nil).Validate(),
		"sender MTU":        (&SenderConfig{Table: tab, MTU: 100}).Validate(),
		"sender window":     (&SenderConfig{Table: tab, Window: 2}).Validate(),
		"sender duration":   (&SenderConfig{Table: tab, Keepalive: -1}).Validate(),
		"receiver nil":      (*ReceiverConfig)(nil).Validate(),
		"receiver window":   (&ReceiverConfig{Table: tab, Window: 1}).Validate(),
		"receiver duration": (&ReceiverConfig{Table: tab, Timeout: -1}).Validate(),
		"driver nil":        (*DriverConfig)(nil).Validate(),
		"driver no table":   (&DriverConfig{Transport: &nopTransport{}}).Validate(),
		"driver tick":       (&DriverConfig{Transport: &nopTransport{}, Table: tab, TickInterval: -1}).Validate(),
		"driver sender":     (&DriverConfig{Transport: &nopTransport{}, Table: tab, Sender: &SenderConfig{MTU: 1}}).Validate(),
		"driver receiver":   (&DriverConfig{Transport: &nopTransport{}, Table: tab, Receiver: &ReceiverConfig{Window: 1}}).Validate(),
	} {
		require.ErrorIs(t, err, hakit.ErrConfig, name)
	}
	_, err := NewSender(t0, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = NewReceiver(t0, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = NewDriver(nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
}
