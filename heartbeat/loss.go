package heartbeat

import (
	"math"
	"time"
)

// The loss model: how likely loss alone explains a peer's silence and its
// unanswered probes. Two bounds must hold before an early verdict, each
// against its own budget:
//
//   - the steady bound (falseVerdictBudget): the link's loss as its recent
//     history measured it, the current silence included;
//   - the onset bound (onsetBudget): any loss rate at all, the one that
//     best explains everything this suspicion saw — the peer's silence and
//     the answers and silences of the other units and neighbours probed
//     alongside (a likelihood ratio against the peer's death). It protects the moment right after a link became lossy,
//     when the history still says it is clean: a neighbour that answers
//     every probe shows the loss is low now, one that answers few shows it
//     is high, whatever the past.
//
// Losses are taken as independent per frame; a probe round trip is lost
// when either of its two frames is.

// falseVerdictBudget bounds, per heartbeat interval, the probability that
// loss alone at the rate the link's history shows produces an early (or
// extended window) verdict.
const falseVerdictBudget = 1e-9

// onsetBudget bounds the probability that loss alone, at whichever rate
// explains this suspicion's evidence best, produces an early verdict: the
// guard against a link that has just become lossy.
const onsetBudget = 1e-5

// shortWindow is the number of recent sequence numbers whose loss is taken
// at face value, so that the onset of loss raises the estimate within
// seconds rather than after lossWindowLen frames.
const shortWindow = 64

// loss returns the steady loss estimate of l with h heartbeats of the
// current silence counted as lost (see counted): the larger of an upper bound over the
// long window (share lost + 2 standard errors + 1/n) and one over the last
// shortWindow frames received (share lost + 2 standard errors, the silence
// not included: a dead peer's silence must not make its own verdict wait);
// 1 without history.
func (m *Machine) loss(l *peerLink, h int) float64 {
	if l.loss.n == 0 {
		return 1
	}
	n := float64(l.loss.n + h)
	ph := float64(l.loss.n-l.loss.recv+h) / n
	p := ph + 2*math.Sqrt(ph*(1-ph)/n) + 1/n
	if ns := min(l.loss.n, shortWindow); ns > 0 {
		k := float64(ns)
		ps := float64(l.loss.missedLast(ns)) / k
		p = max(p, ps+2*math.Sqrt(ps*(1-ps)/k))
	}
	return min(p, 1)
}

// roundTrip returns the chance that a probe or its answer is lost at loss
// p.
func roundTrip(p float64) float64 { return 1 - (1-p)*(1-p) }

// missed returns how many heartbeats of l's peer were due and did not
// arrive by now.
func (m *Machine) missed(l *peerLink, now time.Time) int {
	return int(now.Sub(l.lastRx) / m.cfg.Interval)
}

// steady returns the chance that loss at l's steady estimate on interface
// i explains the peer's silence since it was last known alive and its
// unanswered probes.
func (m *Machine) steady(i int, l *peerLink, now time.Time) float64 {
	h := m.silence(l, now)
	p := m.loss(l, m.counted(i, l, h))
	return math.Pow(p, float64(h)) * math.Pow(roundTrip(p), float64(l.fails))
}

// counted returns how many of the h heartbeats of l's current silence on
// interface i the steady estimate counts as lost: all of them where l is
// blind (nothing else there measures the loss now, so the silence is its
// only measure), none elsewhere (the onset bound weighs the silence
// against what the witnesses show now; counting it here again would make
// a unit with a short history wait out the window).
func (m *Machine) counted(i int, l *peerLink, h int) int {
	if m.blind(i, l) {
		return h
	}
	return 0
}

// onset returns how much better loss at the rate that explains it best
// explains what the suspicion of l on interface i saw than the peer's death
// does: the generalised likelihood ratio of "the peer is alive behind lost
// frames" to "it is dead", maximised over the loss rate L of the interface
// now. The interface's evidence from everything but the peer (frames
// received and lost, probes answered and not) weighs the same under both,
// so it only pins L down; the peer's silence (its missed heartbeats and
// unanswered probes) is certain if it is dead and has the probability
// L^h q^f if it is alive.
func (m *Machine) onset(i int, l *peerLink, now time.Time) float64 {
	return onsetRatio(m.silence(l, now), l.fails, m.witnessed(i, l, now))
}

// onsetRatio is onset for h missed heartbeats, f unanswered probes of the
// peer and the evidence w of everything else.
func onsetRatio(h, f int, w witness) float64 {
	a1, b1 := float64(w.miss), float64(w.frames)
	a2, b2 := float64(w.fail), float64(w.ok)
	return math.Exp(maxLogLikelihood(a1+float64(h), b1, a2+float64(f), b2) - maxLogLikelihood(a1, b1, a2, b2))
}

// maxLogLikelihood returns the largest, over loss rates L in (0, 1), of
// the log of L^a1 (1-L)^b1 q^a2 (1-q)^b2 with q = 1-(1-L)^2: a1 frames
// lost and b1 received, a2 round trips lost and b2 completed. The function
// is concave in L, so a golden-section search finds the maximum.
func maxLogLikelihood(a1, b1, a2, b2 float64) float64 {
	if a1+a2 == 0 || b1+b2 == 0 {
		return 0 // L at 0 or at 1 explains it with certainty
	}
	logf := func(L float64) float64 {
		return a1*math.Log(L) + (b1+2*b2)*math.Log1p(-L) + a2*math.Log(roundTrip(L))
	}
	const phi = 0.6180339887498949
	lo, hi := 1e-12, 1-1e-12
	x1, x2 := hi-phi*(hi-lo), lo+phi*(hi-lo)
	f1, f2 := logf(x1), logf(x2)
	for range 80 {
		if f1 < f2 {
			lo, x1, f1 = x1, x2, f2
			x2 = lo + phi*(hi-lo)
			f2 = logf(x2)
		} else {
			hi, x2, f2 = x2, x1, f1
			x1 = hi - phi*(hi-lo)
			f1 = logf(x1)
		}
	}
	return max(f1, f2)
}

// othersExplained returns the probability that loss at their steady
// estimates explains, now, the silence of p and its unanswered probes on
// its Suspect links other than i: 0 when there are none. A link in
// LocalFault or PeerFault has a fault of its own to explain it and is left
// out.
func (m *Machine) othersExplained(now time.Time, p *peer, i int) float64 {
	prob, any := 1.0, false
	for j, l := range p.links {
		if j == i || l.state != Suspect {
			continue
		}
		any = true
		prob *= m.steady(j, l, now)
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
