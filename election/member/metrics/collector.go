package metrics

import (
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Source is what the Collector reads at every scrape; *member.Driver is
// one.
type Source interface {
	Status() member.Status
}

// Options configures a Collector. A nil *Options means the defaults.
type Options struct {
	// Namespace prefixes every metric name; empty means "hakit".
	Namespace string
	// ConstLabels are added to every metric, for example the cluster ID
	// when one exporter serves several units.
	ConstLabels prometheus.Labels
	// GARP, if not nil, returns the announcer's counters
	// (garp.Driver.Stats).
	GARP func() garp.Stats
	// Buckets are the bounds of the failover histograms, in seconds; nil
	// means 1 ms to about 8 s in powers of two: a takeover at 10 ms
	// heartbeats and one at 1 s both fall in the middle.
	Buckets []float64
}

// Collector is a prometheus.Collector over one cluster member. Its methods
// are safe for concurrent use.
type Collector struct {
	src  Source
	garp func() garp.Stats
	d    descs

	phase *prometheus.HistogramVec
	total prometheus.Histogram

	mu          sync.Mutex
	transitions map[[2]string]uint64 // {to, reason}
	verdicts    map[string]uint64
}

// New returns a Collector over src. Feed it the Driver's events with
// Observe.
func New(src Source, o *Options) *Collector {
	var opt Options
	if o != nil {
		opt = *o
	}
	if opt.Namespace == "" {
		opt.Namespace = "hakit"
	}
	if opt.Buckets == nil {
		opt.Buckets = prometheus.ExponentialBuckets(0.001, 2, 14)
	}
	c := &Collector{src: src, garp: opt.GARP, d: newDescs(opt.Namespace, opt.ConstLabels),
		transitions: map[[2]string]uint64{}, verdicts: map[string]uint64{}}
	c.phase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: opt.Namespace, Name: "failover_phase_seconds", ConstLabels: opt.ConstLabels, Buckets: opt.Buckets,
		Help: "How long each phase of a takeover took on the unit that took over: election (fault to role change), then each takeover step by name.",
	}, []string{"phase"})
	c.total = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: opt.Namespace, Name: "failover_seconds", ConstLabels: opt.ConstLabels, Buckets: opt.Buckets,
		Help: "How long a takeover took on the unit that took over, from the fault (or, without one, the role change) to the last step up.",
	})
	return c
}

// Observe records an event of the Driver: role changes, verdicts and
// completed takeovers. It may be called from Config.OnEvent and returns
// at once.
func (c *Collector) Observe(e member.Event) {
	switch e.Kind {
	case member.EventRoleChange:
		c.mu.Lock()
		c.transitions[[2]string{e.To.String(), e.Cause.String()}]++
		c.mu.Unlock()
	case member.EventHeartbeat:
		if e.State.Verdict() {
			c.mu.Lock()
			c.verdicts[label(e.State.String())]++
			c.mu.Unlock()
		}
	case member.EventTakeover:
		if t := e.Takeover; t != nil {
			for _, p := range t.Phases() {
				c.phase.WithLabelValues(p.Name).Observe(p.Duration.Seconds())
			}
			c.total.Observe(t.Total().Seconds())
		}
	}
}

// label turns a state name ("local-fault") into a label value
// ("local_fault").
func label(s string) string { return strings.ReplaceAll(s, "-", "_") }

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all {
		ch <- d
	}
	c.phase.Describe(ch)
	c.total.Describe(ch)
}

// Collect reads the source's status and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Status()
	d := &c.d
	g := func(desc *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, lv...)
	}
	n := func(desc *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), lv...)
	}
	g(d.role, float64(s.Role))
	g(d.isPrimary, b2f(s.Role == hakit.Primary))
	g(d.prioConf, float64(s.Priority))
	g(d.prioEff, float64(s.Effective))
	g(d.linksUp, float64(s.LinksUp))
	g(d.inSync, b2f(s.InSync))
	if !s.Since.IsZero() {
		g(d.since, unix(s))
	}
	g(d.held, float64(len(s.Held)))
	c.mu.Lock()
	for k, v := range c.transitions {
		n(d.transitions, v, k[0], k[1])
	}
	for k, v := range c.verdicts {
		n(d.verdicts, v, k)
	}
	c.mu.Unlock()

	for _, p := range s.Peers {
		peer := strconv.Itoa(int(p.Unit))
		g(d.peerReachable, b2f(p.Reachable), peer)
		if p.Candidate.Unit != 0 {
			g(d.peerRole, float64(p.Candidate.Role), peer)
			g(d.peerPriority, float64(p.Candidate.Priority), peer)
		}
		for _, l := range p.Links {
			g(d.linkState, float64(l.State), peer, l.Interface)
			g(d.linkLoss, l.Loss, peer, l.Interface)
			if !l.LastHeard.IsZero() {
				g(d.lastHeard, float64(l.LastHeard.UnixNano())/1e9, peer, l.Interface)
			}
		}
	}

	for _, k := range s.Checks {
		g(d.checkFailing, b2f(k.Failing), k.Name)
		g(d.checkWeight, float64(k.Weight), k.Name)
		n(d.checkRuns, k.Runs, k.Name)
		n(d.checkFailures, k.Failures, k.Name)
	}

	h := s.Heartbeat
	n(d.hbSent, h.Sent)
	n(d.hbReceived, h.Received)
	n(d.hbSendErrors, h.SendErrors)
	for _, r := range heartbeatDrops(h.Dropped) {
		n(d.hbDropped, r.n, r.reason)
	}
	n(d.probesSent, h.ProbesSent)
	n(d.probeReplies, h.ProbeReplies)
	n(d.suspicions, h.Suspicions)
	n(d.recoveries, h.Recoveries)
	n(d.collisions, h.Collisions)

	m := s.Counters
	n(d.takeovers, m.Takeovers)
	n(d.releases, m.Releases)
	n(d.stepFailures, m.StepFailures)
	n(d.downFailures, m.DownFailures)
	n(d.reannounces, m.Reannounces)
	n(d.reannounceFailures, m.ReannounceFailures)
	n(d.payloadDropped, m.DroppedPayload+m.Election.DroppedInvalid, "invalid")
	n(d.payloadDropped, m.DroppedWrongUnit, "wrong_unit")
	n(d.payloadDropped, m.Election.DroppedCollision, "collision")
	e := m.Election
	n(d.peersLost, e.PeersLost)
	n(d.splitBrains, e.SplitBrains)
	n(d.handovers, e.Handovers)
	n(d.handoverTimeouts, e.HandoverTimeouts)
	n(d.witnessVetoes, e.WitnessVetoes)
	n(d.depositions, e.Depositions)
	n(d.verdictsIgnored, e.VerdictsIgnored)

	if c.garp != nil {
		st := c.garp()
		n(d.garpSent, st.SentARP, "arp")
		n(d.garpSent, st.SentNA, "na")
		n(d.garpSent, st.SentLearn, "learn")
		n(d.garpSendErrors, st.SendErrors)
		n(d.garpDropped, st.Dropped)
	}

	if y := s.Sync; y != nil {
		g(d.syncSessions, float64(y.Sessions))
		for _, r := range syncDriverDrops(y.Driver) {
			n(d.syncDriverDropped, r.n, r.reason)
		}
		for i, p := range y.Peers {
			sp := strconv.Itoa(i)
			if p.Unit != 0 {
				sp = strconv.Itoa(int(p.Unit))
			}
			g(d.syncSending, b2f(y.Sending), sp)
			g(d.syncReceiving, b2f(y.Receiving), sp)
			g(d.syncPeerInSync, b2f(p.InSync), sp)
			g(d.bulkRunning, b2f(p.Sent < p.Total), sp, "send")
			g(d.bulkRunning, b2f(p.Got < p.Announced), sp, "receive")
			g(d.bulkDone, float64(p.Sent), sp, "send")
			g(d.bulkDone, float64(p.Got), sp, "receive")
			g(d.bulkTotal, float64(p.Total), sp, "send")
			g(d.bulkTotal, float64(p.Announced), sp, "receive")
			g(d.syncLag, p.Backlog.Lag.Seconds(), sp)
			g(d.backlogRecords, float64(p.Backlog.Records), sp)
			g(d.backlogBytes, float64(p.Backlog.Bytes), sp)
			n(d.recordsSent, p.Sender.Records, sp)
			n(d.recordsReceived, p.Receiver.Records, sp)
			n(d.resent, p.Sender.Resent, sp)
			n(d.resyncs, p.Sender.Resyncs, sp, "send")
			n(d.resyncs, p.Receiver.Resyncs, sp, "receive")
			for _, r := range []struct {
				dir, reason string
				v           uint64
			}{
				{"send", "malformed", p.Sender.DropMalformed}, {"send", "auth", p.Sender.DropAuth},
				{"send", "version", p.Sender.DropVersion}, {"send", "replay", p.Sender.DropReplay},
				{"send", "stale", p.Sender.DropStale},
				{"receive", "malformed", p.Receiver.DropMalformed}, {"receive", "auth", p.Receiver.DropAuth},
				{"receive", "version", p.Receiver.DropVersion}, {"receive", "replay", p.Receiver.DropReplay},
				{"receive", "window", p.Receiver.DropWindow},
			} {
				n(d.syncDropped, r.v, sp, r.dir, r.reason)
			}
		}
	}

	c.phase.Collect(ch)
	c.total.Collect(ch)
}

type drop struct {
	reason string
	n      uint64
}

func heartbeatDrops(d heartbeat.Drops) []drop {
	return []drop{{"malformed", d.Malformed}, {"other_cluster", d.OtherCluster}, {"cluster_tag", d.ClusterTag}, {"auth", d.Auth},
		{"replay", d.Replay}, {"stale", d.Stale}, {"own", d.Own}, {"unknown_interface", d.UnknownInterface}}
}

// syncDriverDrops are the sync driver's and its transport's drops.
func syncDriverDrops(d statesync.DriverStats) []drop {
	return []drop{{"kernel", d.Transport.Kernel}, {"other_source", d.Transport.OtherSource},
		{"short_frame", d.Transport.Short}, {"other_ethertype", d.Transport.OtherType},
		{"short", d.Short}, {"ignored", d.Ignored}, {"other_cluster", d.Foreign}, {"unknown_unit", d.Unknown},
		{"write_queue_full", d.WriteDrops}}
}

func unix(s member.Status) float64 { return float64(s.Since.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ prometheus.Collector = (*Collector)(nil)
