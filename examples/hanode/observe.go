package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/metrics"
	"github.com/hakit/hakit/election/member/notify"
)

// observers are what watches the unit from outside: the Prometheus
// metrics, the -notify hook and the /events stream, each fed every event.
type observers struct {
	metrics *metrics.Collector
	reg     *prometheus.Registry
	hook    notifier // -notify, replaced by a reload (notifier.go)
	stream  *notify.Stream
}

// unitStatus reads the daemon's unit once it exists (the collector is
// made before it, to see its first events).
type unitStatus struct{ d *daemon }

func (u unitStatus) Status() member.Status { return u.d.unit.Status() }

// startObservers makes the observers; the status server serves them.
func (d *daemon) startObservers() error {
	o := &d.obs
	o.metrics = metrics.New(unitStatus{d}, &metrics.Options{GARP: d.speaker.Stats})
	o.reg = prometheus.NewRegistry()
	o.reg.MustRegister(o.metrics)
	o.stream = notify.NewStream(&notify.StreamConfig{Cluster: d.cfg.ClusterID, Unit: d.cfg.UnitID})
	h, err := d.newHook(d.cfg.Hooks)
	if err != nil {
		return err
	}
	o.hook.set(h)
	// Registered without -notify too: a reload may add one.
	hookStat := func(name, help string, v func(notify.HookStats) uint64) {
		o.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "hakit", Name: name, Help: help},
			func() float64 { return float64(v(o.hook.Stats())) }))
	}
	hookStat("notify_runs_total", "Notify commands started.", func(s notify.HookStats) uint64 { return s.Runs })
	hookStat("notify_failures_total", "Notify commands that failed or could not start.", func(s notify.HookStats) uint64 { return s.Failed })
	hookStat("notify_timeouts_total", "Notify commands killed at the timeout.", func(s notify.HookStats) uint64 { return s.TimedOut })
	hookStat("notify_dropped_total", "Events that ran no notify command: the ones before were still running.", func(s notify.HookStats) uint64 { return s.Dropped })
	return nil
}

// observe hands an event to every observer; none of them blocks.
func (d *daemon) observe(e member.Event) {
	o := &d.obs
	o.metrics.Observe(e)
	o.stream.Observe(e)
	o.hook.Observe(e)
}

// handler is the status server: /metrics (Prometheus), /events (a stream
// of newline-delimited JSON), and the JSON status on every other path.
func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.obs.reg, promhttp.HandlerOpts{}))
	mux.Handle("/events", d.obs.stream)
	mux.HandleFunc("/", d.serveStatus)
	return mux
}

// closeObservers ends the event streams and runs the hooks still queued
// (the unit's last events: its steps released).
func (d *daemon) closeObservers() {
	if d.obs.stream != nil {
		d.obs.stream.Close()
	}
	d.obs.hook.close()
}
