package notify_test

import (
	"log/slog"
	"net/http"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/notify"
)

// A hook run on every notable event, and the events served as a stream on
// /events, both fed from the unit's OnEvent.
func Example() {
	if err := setUp(); err != nil {
		slog.Error("notify", "err", err)
	}
}

func setUp() error {
	var (
		log *slog.Logger  // the daemon's logger
		cfg member.Config // the unit's configuration, before member.New
	)
	hook, err := notify.NewHook(&notify.HookConfig{Command: []string{"/etc/hanode/notify"}, Unit: 1, Logger: log})
	if err != nil {
		return err
	}
	stream := notify.NewStream(&notify.StreamConfig{Unit: 1})
	cfg.OnEvent = func(e member.Event) { hook.Observe(e); stream.Observe(e) }
	http.Handle("/events", stream)
	return nil
}
