package metrics_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/metrics"
	"github.com/hakit/hakit/garp"
)

// A unit's metrics on /metrics: the Collector reads the unit's Status at
// every scrape, and observes its events for the transitions and the
// failover phases.
func Example() {
	var (
		unit    *member.Driver // the unit (member.New)
		speaker *garp.Driver   // its announcer, for the ARP and NA counts
		cfg     member.Config  // the unit's configuration
	)
	c := metrics.New(unit, &metrics.Options{GARP: speaker.Stats})
	cfg.OnEvent = c.Observe // before member.New; or call it from your own OnEvent
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
