package heartbeat

import (
	"math"
	"time"
)

// The loss model: how likely loss alone explains a silence and its
// unanswered probes, from the sequence gaps each link showed recently. The
// Machine reaches an early or extended verdict only when that probability is
// below falseVerdictBudget.

// falseVerdictBudget bounds, per heartbeat interval, the estimated
// probability that loss alone produces an early PeerDown verdict.
const falseVerdictBudget = 1e-9

// shortWindow is the number of recent sequence numbers whose loss is taken
// at face value, so that the onset of loss raises the estimate within
// seconds rather than after lossWindowLen frames.
const shortWindow = 64

// loss returns the loss estimate of l used for verdicts: the larger of an
// upper bound over the long window and the share lost in the short one; 1
// without history.
func (m *Machine) loss(l *peerLink) float64 {
	n := float64(l.loss.n)
	if n == 0 {
		return 1
	}
	ph := float64(l.loss.n-l.loss.recv) / n
	p := ph + 2*math.Sqrt(ph*(1-ph)/n) + 1/n
	if ns := min(l.loss.n, shortWindow); ns > 0 {
		p = max(p, float64(l.loss.missedLast(ns))/float64(ns))
	}
	return min(p, 1)
}

// probesNeeded returns how many unanswered probe rounds to the peer an early
// verdict needs on l, given the loss l showed recently, or MaxInt when that
// many rounds would not fit in the window and its extension.
//
// The loss estimate p is the larger of an upper bound over the long window
// (share lost + 2 standard errors + 1/n) and the share lost in the last
// shortWindow frames. A false verdict needs the Misses heartbeats before the
// suspicion lost, every heartbeat due during K probe rounds lost, and in each
// round all probeBurst probes or their replies lost; K is the smallest count
// for which that probability is at most falseVerdictBudget.
func (m *Machine) probesNeeded(l *peerLink) int {
	if l.loss.n == 0 {
		return math.MaxInt
	}
	p := m.loss(l)
	if p >= 1 {
		return math.MaxInt
	}
	round := math.Pow(1-(1-p)*(1-p), probeBurst)
	for k := 1; time.Duration(k)*m.cfg.ProbeInterval < (1+maxExtension)*m.cfg.ProbeWindow; k++ {
		hb := m.cfg.Misses + int(time.Duration(k)*m.cfg.ProbeInterval/m.cfg.Interval)
		if math.Pow(p, float64(hb))*math.Pow(round, float64(k)) <= falseVerdictBudget {
			return k
		}
	}
	return math.MaxInt
}

// othersExplained returns the probability that loss alone explains, now,
// the silence of p and its unanswered probe rounds on its Suspect links
// other than i: 0 when there are none. A link in LocalFault or PeerFault
// has a fault of its own to explain it and is left out.
func (m *Machine) othersExplained(now time.Time, p *peer, i int) float64 {
	prob, any := 1.0, false
	for j, l := range p.links {
		if j == i || l.state != Suspect {
			continue
		}
		any = true
		pl := m.loss(l)
		q := 1 - (1-pl)*(1-pl)
		h := float64(now.Sub(l.lastRx) / m.cfg.Interval)
		prob *= math.Pow(pl, h) * math.Pow(q, float64(probeBurst*l.unanswerd))
	}
	if !any {
		return 0
	}
	return prob
}

// lossWindowLen is the number of sequence numbers over which loss is
// measured.
const lossWindowLen = 1024

// lossWindow tracks which of the last lossWindowLen sequence numbers of a
// sender arrived.
type lossWindow struct {
	bits [lossWindowLen / 64]uint64
	hi   uint64
	n    int // positions covered, up to lossWindowLen
	recv int // of which received
}

func (w *lossWindow) reset() { *w = lossWindow{} }

func (w *lossWindow) record(seq uint64) {
	if w.n == 0 {
		w.hi, w.n, w.recv = seq, 1, 1
		w.set(seq, true)
		return
	}
	if seq <= w.hi {
		return
	}
	if seq-w.hi >= lossWindowLen {
		w.bits = [lossWindowLen / 64]uint64{}
		w.hi, w.n, w.recv = seq, lossWindowLen, 1
		w.set(seq, true)
		return
	}
	for s := w.hi + 1; s <= seq; s++ {
		if w.n == lossWindowLen {
			if w.get(s) {
				w.recv--
			}
		} else {
			w.n++
		}
		w.set(s, s == seq)
	}
	w.recv++
	w.hi = seq
}

func (w *lossWindow) get(s uint64) bool {
	i := s % lossWindowLen
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *lossWindow) set(s uint64, v bool) {
	i := s % lossWindowLen
	if v {
		w.bits[i/64] |= 1 << (i % 64)
	} else {
		w.bits[i/64] &^= 1 << (i % 64)
	}
}

// missedLast returns how many of the last k sequence numbers (up to hi, k at
// most w.n) did not arrive.
func (w *lossWindow) missedLast(k int) int {
	missed := 0
	for i := range uint64(k) {
		if !w.get(w.hi - i) {
			missed++
		}
	}
	return missed
}

func (w *lossWindow) rate() float64 {
	if w.n == 0 {
		return 0
	}
	return float64(w.n-w.recv) / float64(w.n)
}
