package heartbeat

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Early Interface Failure Detection: suspicions, probe rounds, evidence and
// verdicts. See the package documentation for the rules.

const (
	// echoFirst is the number of echo requests sent in a probe round that
	// starts a suspicion: free evidence (no ARP rate limit counts them),
	// enough that a round left unanswered is conclusive on an idle link
	// even just after it became lossy.
	echoFirst = 20
	// echoLater is the number sent in every later round.
	echoLater = 4
	// peerFirst is the number of probes of a suspected peer's address in
	// the round that starts the suspicion (its kernel's answer, or its
	// silence; see kernelBudget).
	peerFirst = 2
	// witnessWanted is how many answers or frames of other units and
	// neighbours a suspicion seeks on its interface, to measure its loss
	// now (see onset).
	witnessWanted = 4
	// peerReserve is the number of probes of the budget that probes of
	// neighbours leave to the peers' own addresses.
	peerReserve = 2
	// maxPending bounds the probes and echo requests remembered per
	// interface.
	maxPending = 512
	// kernelBudget bounds the chance that loss explains a peer's kernel
	// leaving its ARP probes unanswered while its daemon is silent (a
	// daemon dead or hung on a live host): such a peer gets the window's
	// verdict.
	kernelBudget = 0.02
	// maxExtension bounds, in probe windows, how long ModeEarly waits past
	// the window for conclusive evidence on a lossy link.
	maxExtension = 10
)

func (m *Machine) missSpan() time.Duration { return time.Duration(m.cfg.Misses) * m.cfg.Interval }

func (m *Machine) windowEnd(l *peerLink) time.Time { return l.suspectAt.Add(m.cfg.ProbeWindow) }

// probing reports whether l probes in a round at t: while Suspect, in
// ModeStrict within its window only.
func (m *Machine) probing(l *peerLink, t time.Time) bool {
	return l.state == Suspect && (m.cfg.Mode == ModeEarly || t.Before(m.windowEnd(l)))
}

// after reports whether a request sent at sent went out after the answer
// at ans (none if zero): one sent at or before the peer last answered was
// lost while the peer was alive, even in the instant of that answer (a
// request and its answer may carry the same time).
func after(sent, ans time.Time) bool { return ans.IsZero() || sent.After(ans) }

// eifd runs what is due at now: probes to resolve, suspicions to start,
// verdicts, probe rounds.
func (m *Machine) eifd(now time.Time, out *Output) {
	for i := range m.ports {
		m.resolve(now, i)
	}
	for _, id := range m.order {
		p := m.peers[id]
		for i, l := range p.links {
			if l.state == Alive && !now.Before(l.lastRx.Add(m.missSpan())) {
				m.c.Suspicions++
				m.suspect(now, p, i, fmt.Sprintf("no heartbeat for %v (%d intervals)", m.missSpan(), m.cfg.Misses), out)
			}
		}
	}
	for _, id := range m.order {
		m.early(now, m.peers[id], out)
	}
	for _, id := range m.order {
		p := m.peers[id]
		for i, l := range p.links {
			if l.state == Suspect && !now.Before(m.windowEnd(l)) {
				m.windowVerdict(now, p, i, out)
			}
		}
	}
	for i, pt := range m.ports {
		if pt.roundNow || !now.Before(pt.nextRound) {
			m.probeRound(now, i, out)
		}
		m.recover(now, i, out)
	}
}

// suspect starts a suspicion of p on interface i: the probe round at once.
func (m *Machine) suspect(now time.Time, p *peer, i int, reason string, out *Output) {
	l, pt := p.links[i], m.ports[i]
	l.state = Suspect
	l.suspectAt = now
	l.wit0 = pt.wit
	l.pre = witness{}
	l.lastAns, l.lastEcho = time.Time{}, time.Time{}
	l.fails, l.arpFails, l.rounds, l.waiting = 0, 0, 0, false
	pt.roundNow = true
	if !pt.noARP {
		reason += fmt.Sprintf("; probing %d neighbours", len(m.targets(i)))
		if l.addr.IsValid() {
			reason += " and the peer at " + l.addr.String()
		}
	} else {
		reason += "; echo requests to every unit"
	}
	m.report(now, p, i, Suspect, reason, out)
}

// targets returns the neighbours of interface i that witness probes go
// to: at most maxTargets, without this unit's and the units' own
// addresses (units answer echo requests).
func (m *Machine) targets(i int) []netip.Addr {
	pt := m.ports[i]
	var out []netip.Addr
	for _, a := range pt.neighbours {
		if len(out) == maxTargets {
			break
		}
		if a == pt.addr || slices.Contains(out, a) || m.unitAt(i, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func (m *Machine) unitAt(i int, a netip.Addr) bool {
	for _, id := range m.order {
		if m.peers[id].links[i].addr == a {
			return true
		}
	}
	return false
}

// probeRound sends a round of probes on interface i if a peer is Suspect
// there: the suspected peers' own addresses first, then neighbours while
// the suspicions lack witnesses, all within the probe budget, and echo
// requests to every unit.
func (m *Machine) probeRound(now time.Time, i int, out *Output) {
	pt := m.ports[i]
	pt.roundNow = false
	var links []*peerLink
	first := false
	for _, id := range m.order {
		if l := m.peers[id].links[i]; m.probing(l, now) {
			links = append(links, l)
			first = first || l.rounds == 0
		}
	}
	if len(links) == 0 {
		return
	}
	pt.nextRound = now.Add(m.cfg.ProbeInterval)
	if !pt.noARP {
		// The peer's address: every round while its kernel answers (it
		// may die a moment after its daemon), else once an interval until
		// its silence is conclusive for its kernel too.
		perInterval := max(1, int(m.cfg.Interval/m.cfg.ProbeInterval))
		var sent []netip.Addr
		for _, l := range links {
			if !l.addr.IsValid() || slices.Contains(sent, l.addr) {
				continue
			}
			kernelAlive := !l.lastAns.IsZero() && l.lastAns.After(l.lastEcho)
			n := 0
			switch {
			case l.rounds == 0:
				n = peerFirst
			case kernelAlive || l.rounds%perInterval == 0 && !m.kernelSilent(i, l, now):
				n = 1
			}
			for range n {
				if m.arp(now, i, l.addr, false, 0, out) {
					sent = append(sent, l.addr)
				}
			}
		}
		m.witnessProbes(now, i, links, first, out)
	}
	n := echoLater
	if first {
		n = echoFirst
	}
	m.echo(now, i, n, out)
	for _, l := range links {
		l.rounds++
	}
}

// witnessProbes probes neighbours of interface i while the suspicions
// there have fewer than witnessWanted witnesses, counting those awaited:
// in the round that starts a suspicion as many as wanted, then one a
// round.
func (m *Machine) witnessProbes(now time.Time, i int, links []*peerLink, first bool, out *Output) {
	targets := m.targets(i)
	if len(targets) == 0 {
		return
	}
	least := math.MaxInt
	for _, l := range links {
		w := m.witnessed(i, l, now)
		least = min(least, w.ok+w.frames)
	}
	pt := m.ports[i]
	awaited := 0
	for _, a := range pt.arps {
		if a.witness && !a.resolved && !a.answered {
			awaited++
		}
	}
	others := 0
	for _, id := range m.order {
		if l := m.peers[id].links[i]; l.state == Alive && l.echoes {
			others++
		}
	}
	for _, e := range pt.echoes {
		if !e.resolved {
			awaited += max(0, others-len(e.answered))
		}
	}
	n := witnessWanted - least - awaited
	if !first {
		n = min(n, 1)
	}
	for range n {
		t := targets[pt.nextNeigh%len(targets)]
		if !m.arp(now, i, t, true, peerReserve, out) {
			pt.wit.held++
			return
		}
		pt.nextNeigh++
	}
}

// arp sends one ARP request (or neighbour solicitation) for target on
// interface i if the budget leaves more than reserve probes, and reports
// whether it did; a probe the budget refuses is counted.
func (m *Machine) arp(now time.Time, i int, target netip.Addr, witness bool, reserve int, out *Output) bool {
	pt := m.ports[i]
	if !pt.budget.take(now, reserve) {
		m.c.ProbesSuppressed++
		return false
	}
	out.Probes = append(out.Probes, Probe{Interface: pt.name, Index: i, Target: target})
	m.c.ProbesSent++
	pt.arps = append(pt.arps, pendingARP{target: target, at: now, witness: witness})
	if len(pt.arps) > maxPending {
		pt.arps = slices.Delete(pt.arps, 0, len(pt.arps)-maxPending)
	}
	return true
}

// echo sends n echo requests on interface i.
func (m *Machine) echo(now time.Time, i int, n int, out *Output) {
	pt := m.ports[i]
	for range n {
		pt.echoSeq++
		e := Echo{Op: EchoRequest, ClusterID: m.cfg.ClusterID, UnitID: m.cfg.UnitID,
			Interface: uint16(i), Epoch: m.cfg.Epoch, Seq: pt.echoSeq}
		m.sendEcho(i, &e, out)
		m.c.EchoRequests++
		pt.echoes = append(pt.echoes, pendingEcho{seq: pt.echoSeq, at: now})
	}
	if len(pt.echoes) > maxPending {
		pt.echoes = slices.Delete(pt.echoes, 0, len(pt.echoes)-maxPending)
	}
}

func (m *Machine) sendEcho(i int, e *Echo, out *Output) {
	buf := make([]byte, 0, EchoLen+TagLen)
	var err error
	e.ClusterTag = m.primaryTag()
	if m.sealer != nil {
		buf, err = m.sealer.SealEcho(buf, e)
		if tag := m.tags.keyed[e.KeyID]; err == nil && tag != e.ClusterTag {
			// The ring changed between the two reads: seal again.
			e.ClusterTag = tag
			buf, err = m.sealer.SealEcho(buf[:0], e)
		}
	} else {
		buf, err = e.AppendBinary(buf)
	}
	if err != nil {
		// Unreachable: every field was set here.
		panic("heartbeat: encoding our own echo: " + err.Error())
	}
	out.Frames = append(out.Frames, Transmit{
		Interface: m.ports[i].name, Index: i, Data: buf, Echo: true,
		Src: SourceMAC(m.cfg.ClusterID, m.cfg.UnitID, m.role),
		Dst: m.destination(i),
	})
}

// resolve counts the probes and echo requests of interface i that went
// unanswered for ProbeInterval: as failures of the suspected peers they
// were meant for, and of the other units and neighbours (witnesses).
func (m *Machine) resolve(now time.Time, i int) {
	pt := m.ports[i]
	due := func(at time.Time) bool { return !now.Before(at.Add(m.cfg.ProbeInterval)) }
	for k := range pt.echoes {
		e := &pt.echoes[k]
		if e.resolved || !due(e.at) {
			continue
		}
		e.resolved = true
		for _, id := range m.order {
			l := m.peers[id].links[i]
			answered := slices.Contains(e.answered, id)
			switch {
			case l.state == Suspect && !answered && e.at.Before(l.suspectAt):
			case l.state == Suspect && !answered && !after(e.at, l.lastEcho):
				l.pre.fail++ // lost while the peer was alive
			case l.state == Suspect && !answered:
				l.fails++
			case l.state == Alive && l.echoes && !answered:
				pt.wit.fail++
			}
		}
	}
	for k := range pt.arps {
		a := &pt.arps[k]
		if a.resolved || !due(a.at) {
			continue
		}
		a.resolved = true
		switch {
		case a.answered:
		case a.witness:
			pt.wit.fail++
		default:
			for _, id := range m.order {
				l := m.peers[id].links[i]
				if l.state != Suspect || l.addr != a.target {
					continue
				}
				switch {
				case a.at.Before(l.suspectAt):
				case !after(a.at, l.lastEcho):
					l.pre.fail++
				default:
					l.fails++
				}
				if !a.at.Before(l.suspectAt) && after(a.at, l.lastAns) {
					l.arpFails++
				}
			}
		}
	}
	// Answers may still arrive late, within a window.
	old := func(at time.Time) bool { return now.Sub(at) > m.cfg.ProbeWindow }
	pt.echoes = slices.DeleteFunc(pt.echoes, func(e pendingEcho) bool { return e.resolved && old(e.at) })
	pt.arps = slices.DeleteFunc(pt.arps, func(a pendingARP) bool { return a.resolved && old(a.at) })
}

// witnessed returns the evidence about the loss on interface i now that
// l's suspicion gathered, apart from the peer's silence since it was last
// known alive: everything's frames and answers since the suspicion began
// (the peer's included), the peer's failures and missed heartbeats before
// its daemon last answered, and the heartbeats of the other units overdue
// now.
func (m *Machine) witnessed(i int, l *peerLink, now time.Time) witness {
	w := m.ports[i].wit.minus(l.wit0)
	w.fail += l.pre.fail
	w.miss += l.pre.miss
	for _, id := range m.order {
		if o := m.peers[id].links[i]; o != l && o.state == Alive {
			w.miss += m.missed(o, now)
		}
	}
	return w
}

// blind reports whether nothing but the peer can answer on interface i
// for l: a routed interface (no neighbours) where no other unit was ever
// heard.
func (m *Machine) blind(i int, l *peerLink) bool {
	if !m.ports[i].routed {
		return false
	}
	for _, id := range m.order {
		if o := m.peers[id].links[i]; o != l && o.heard {
			return false
		}
	}
	return true
}

// sendsOK reports whether every send on interface i succeeded since l's
// suspicion began.
func (m *Machine) sendsOK(i int, l *peerLink) bool { return m.ports[i].sendErr.Before(l.suspectAt) }

// answered records that l's peer answered at now: its daemon (an echo
// reply or request) or only its kernel (an ARP reply from its address).
// The daemon's answer shows the peer alive until now: what it missed so far
// was loss.
func (m *Machine) answered(now time.Time, l *peerLink, kernel bool) {
	l.lastAns = now
	l.arpFails = 0
	if !kernel {
		l.pre.fail += l.fails
		l.pre.miss = m.missed(l, now)
		l.lastEcho = now
		l.fails = 0
	}
}

// silence returns how many heartbeats of l's peer were due and did not
// arrive since it was last known alive (its last heartbeat, or its
// daemon's last answer).
func (m *Machine) silence(l *peerLink, now time.Time) int {
	return m.missed(l, now) - l.pre.miss
}

// silent reports whether p sends no heartbeat on any interface.
func silent(p *peer) bool {
	for _, l := range p.links {
		if l.state == Alive {
			return false
		}
	}
	return true
}

// conclusive reports whether l's evidence on interface i makes its peer
// down (if it is silent everywhere): it left probes unanswered that loss
// explains neither at the link's steady rate nor at the rate that best
// explains everything its suspicion saw, while the interface is shown to
// work (on a blind routed interface: while sends succeed).
func (m *Machine) conclusive(now time.Time, i int, l *peerLink) bool {
	if l.fails == 0 || m.steady(i, l, now) > falseVerdictBudget || !m.kernelSilent(i, l, now) {
		return false
	}
	w := m.witnessed(i, l, now)
	if m.blind(i, l) && w.ok+w.frames == 0 {
		// Nothing but the peer could have answered, and it never did in
		// this suspicion: nothing measures the loss now.
		return m.sendsOK(i, l)
	}
	return w.ok+w.frames > 0 && m.onset(i, l, now) <= onsetBudget
}

// kernelSilent reports whether the kernel of l's peer is shown silent on
// interface i: its address left unanswered as many ARP probes (neighbour
// solicitations) as loss at the link's steady rate explains with a chance
// of at most kernelBudget. Where the Machine sends no ARP, or the peer
// advertises no address, there is nothing to ask its kernel.
func (m *Machine) kernelSilent(i int, l *peerLink, now time.Time) bool {
	if m.ports[i].noARP || !l.addr.IsValid() {
		return true
	}
	q := roundTrip(m.loss(l, 0))
	return l.arpFails > 0 && math.Pow(q, float64(l.arpFails)) <= kernelBudget
}

// early declares p down before the window ends when, in ModeEarly, p is
// silent everywhere, its evidence is conclusive on some interface, on no
// interface did it answer since without as conclusive a silence, and its
// silence on the others is conclusive too.
func (m *Machine) early(now time.Time, p *peer, out *Output) {
	if m.cfg.Mode != ModeEarly || !silent(p) {
		return
	}
	at := -1
	for i, l := range p.links {
		if l.state != Suspect {
			continue
		}
		// The peer answered here: its silence since must be conclusive.
		if !l.lastAns.IsZero() && (l.fails == 0 || m.steady(i, l, now) > falseVerdictBudget || !m.kernelSilent(i, l, now)) {
			return
		}
		if at < 0 && m.conclusive(now, i, l) {
			at = i
		}
	}
	// The peer alive with a fault on that interface would leave the
	// silence of the others to loss: that must be conclusive too.
	if at < 0 || m.othersExplained(now, p, at) > falseVerdictBudget {
		return
	}
	l := p.links[at]
	w := m.witnessed(at, l, now)
	reason := fmt.Sprintf("silent on every interface; on %s the peer left %d probes unanswered", m.ports[at].name, l.fails)
	if m.blind(at, l) && w.ok+w.frames == 0 {
		reason += " while this unit's sends succeed (nothing else there to ask)"
	} else {
		reason += fmt.Sprintf(" while %d answers and frames of others show the interface works (loss %.1f%%)",
			w.ok+w.frames, 100*l.loss.rate())
	}
	for i, l := range p.links {
		if l.state == Suspect || l.state == PeerFault {
			m.c.EarlyVerdicts++
			m.verdict(now, p, i, PeerDown, reason, out)
		}
	}
}

// windowVerdict reaches l's verdict once its probe window has ended. In
// ModeStrict it always does (the Clavister schedule). In ModeEarly, on a link
// that lost heartbeats recently, it does when the evidence is conclusive for
// that loss: the chance that loss alone explains the silence and the
// unanswered probes is at most falseVerdictBudget; and while the peer's
// daemon answers echo requests there, it is alive: the verdict waits. It
// waits, probing on, at most maxExtension windows more.
func (m *Machine) windowVerdict(now time.Time, p *peer, i int, out *Output) {
	l := p.links[i]
	early := m.cfg.Mode == ModeEarly
	extend := early && now.Before(l.suspectAt.Add((1+maxExtension)*m.cfg.ProbeWindow))
	w := now.Sub(l.suspectAt).Round(time.Millisecond)
	h := m.missed(l, now)
	pl := m.loss(l, m.counted(i, l, h))
	q := roundTrip(pl)
	chance := math.Pow(pl, float64(h)) // loss alone explains the silence
	wit := m.witnessed(i, l, now)
	echoing := !l.lastEcho.IsZero() && now.Sub(l.lastEcho) < m.cfg.ProbeWindow
	var (
		s      State
		reason string
	)
	switch {
	case m.blind(i, l) && !m.sendsOK(i, l):
		s, reason = LocalFault, "sends fail here and nothing answers within "+w.String()
	case m.blind(i, l) && extend && echoing:
		l.waiting = true // its daemon answers: alive, its heartbeats lost
		return
	case m.blind(i, l) && silent(p):
		s, reason = PeerDown, fmt.Sprintf("silent on every interface; nothing else here to ask, this unit's sends succeed and the peer left %d echo requests unanswered", l.fails)
		chance *= math.Pow(q, float64(l.fails))
	case m.blind(i, l):
		s, reason = PeerFault, "no heartbeats arrive here while they do on another interface; this unit's sends succeed"
	case wit.ok+wit.frames == 0 && l.lastAns.IsZero() && wit.fail == 0 && wit.held > 0:
		// The probe budget held every probe of a neighbour back: no
		// evidence either way.
		if extend {
			l.waiting = true
			return
		}
		s, reason = LocalFault, fmt.Sprintf("no reply within %v, and the probe budget held back %d probes of neighbours", w, wit.held)
		chance = 0
	case wit.ok+wit.frames == 0 && l.lastAns.IsZero():
		if wit.fail == 0 {
			s, reason = LocalFault, "nothing to probe but the peer (no neighbours known, no other unit here), and no reply within "+w.String()+" (the Clavister rule: a local fault)"
			chance = 0
			break
		}
		s, reason = LocalFault, fmt.Sprintf("no reply within %v from the neighbours and units probed (%d probes)", w, wit.fail)
		chance *= math.Pow(q, float64(wit.fail))
	case silent(p):
		// The peer alive with a fault here would leave the other links'
		// silence to loss: that must be conclusive too, or the verdict
		// waits (their heartbeats resuming make it PeerFault).
		if extend && (echoing || m.othersExplained(now, p, i) > falseVerdictBudget) {
			l.waiting = true
			return
		}
		s, reason = PeerDown, "silent on every interface; neighbours answer here"
		if !l.lastAns.IsZero() {
			reason += " and so does the peer's address (its heartbeats stopped)"
		} else {
			chance *= math.Pow(q, float64(l.fails))
		}
	default:
		// The kernel dropping frames here unread may have dropped the
		// peer's heartbeats: wait, as for echoes.
		if extend && (echoing || m.overrunAt(i, now)) {
			l.waiting = true
			return
		}
		s, reason = PeerFault, "neighbours answer but no heartbeats arrive here, while they do on another interface"
	}
	// A link that never lost a heartbeat in its loss window gets the
	// Clavister schedule: there is no loss to be fooled by.
	if early && l.loss.recv < l.loss.n {
		if chance > falseVerdictBudget {
			if extend {
				l.waiting = true // decided again at each probe round
				return
			}
			reason += fmt.Sprintf(" (inconclusive at %.1f%% loss after %v)", 100*pl, w)
		} else if w > m.cfg.ProbeWindow {
			reason += fmt.Sprintf(" (after %v at %.1f%% loss)", w, 100*pl)
		}
	}
	if echoing {
		reason += " (its daemon still answers echo requests)"
	}
	m.verdict(now, p, i, s, reason, out)
}

func (m *Machine) verdict(now time.Time, p *peer, i int, s State, reason string, out *Output) {
	m.c.Verdicts++
	if pt := m.ports[i]; s == LocalFault && !pt.nextRecover.After(now) {
		pt.nextRecover = now.Add(m.cfg.ProbeWindow)
	}
	m.report(now, p, i, s, reason, out)
}

func (m *Machine) report(now time.Time, p *peer, i int, s State, reason string, out *Output) {
	p.links[i].state = s
	out.Reports = append(out.Reports, Report{Peer: p.id, Interface: m.ports[i].name, State: s, Reason: reason, At: now})
}

// works records evidence that interface i works (a frame of a unit, an
// answer): every LocalFault verdict there is withdrawn, and EIFD runs
// again for those peers, knowing the interface works.
func (m *Machine) works(now time.Time, i int, why string, out *Output) {
	for _, id := range m.order {
		p := m.peers[id]
		if p.links[i].state == LocalFault {
			m.c.Withdrawn++
			m.suspect(now, p, i, "local fault withdrawn, the interface works ("+why+")", out)
		}
	}
}

// recover probes, once per probe window, an interface where a peer is in
// LocalFault and nobody is suspected: one echo request and one neighbour,
// so that the verdict is withdrawn when the interface works again.
func (m *Machine) recover(now time.Time, i int, out *Output) {
	pt := m.ports[i]
	if now.Before(pt.nextRecover) {
		return
	}
	fault := false
	for _, id := range m.order {
		switch m.peers[id].links[i].state {
		case Suspect:
			return
		case LocalFault:
			fault = true
		}
	}
	if !fault {
		return
	}
	pt.nextRecover = now.Add(m.cfg.ProbeWindow)
	if targets := m.targets(i); !pt.noARP && len(targets) > 0 {
		if m.arp(now, i, targets[pt.nextNeigh%len(targets)], true, peerReserve, out) {
			pt.nextNeigh++
		}
	}
	m.echo(now, i, 1, out)
}

// ProbeReply records that target answered an EIFD probe on the interface
// named ifname. Replies from addresses that were not probed there are
// ignored. A reply proves that the interface works.
func (m *Machine) ProbeReply(now time.Time, ifname string, from netip.Addr) Output {
	var out Output
	i, ok := m.byName[ifname]
	if !ok {
		return out
	}
	from = from.WithZone("")
	pt := m.ports[i]
	// An ARP reply does not say which request it answers: take the
	// oldest still awaited, else the newest that timed out (a late one).
	k := slices.IndexFunc(pt.arps, func(a pendingARP) bool { return a.target == from && !a.answered && !a.resolved })
	if k < 0 {
		for j, a := range pt.arps {
			if a.target == from && !a.answered {
				k = j
			}
		}
	}
	if k < 0 {
		return out
	}
	a := &pt.arps[k]
	a.answered = true
	m.c.ProbeReplies++
	if !a.resolved {
		pt.wit.ok++
	}
	for _, id := range m.order {
		if l := m.peers[id].links[i]; l.state == Suspect && l.addr == from {
			m.answered(now, l, true)
		}
	}
	m.works(now, i, from.String()+" answered a probe", &out)
	for _, id := range m.order {
		m.early(now, m.peers[id], &out)
	}
	return out
}

// receiveEcho handles an echo message b received on interface i: a request
// is answered, a reply to one of ours is evidence.
func (m *Machine) receiveEcho(now time.Time, i int, b []byte, out *Output) error {
	var e Echo
	if err := e.UnmarshalBinary(b); err != nil {
		m.c.Dropped.Malformed++
		return err
	}
	if err := m.checkTag(now, e.ClusterID, e.ClusterTag, e.KeyID, e.UnitID, i, out); err != nil {
		return err
	}
	if err := m.authentic(e.ClusterID, e.KeyID, b, m.verifyEcho); err != nil {
		return err
	}
	if err := m.notOwn(e.UnitID); err != nil {
		return err
	}
	p := m.peers[e.UnitID]
	if p == nil {
		m.c.Dropped.Unknown++
		return fmt.Errorf("heartbeat: echo %v from unit %d, whose heartbeats never arrived: %w", e.Op, e.UnitID, ErrMalformed)
	}
	l, pt := p.links[i], m.ports[i]
	var why string
	switch e.Op {
	case EchoRequest:
		if e.Epoch < l.echoEpoch || e.Epoch == l.echoEpoch && e.Seq <= l.echoSeq {
			m.c.Dropped.Replay++
			return fmt.Errorf("heartbeat: echo request %d of unit %d (epoch %d) not above %d: %w", e.Seq, e.UnitID, e.Epoch, l.echoSeq, ErrReplay)
		}
		if e.Epoch == l.echoEpoch && e.Seq-l.echoSeq < lossWindowLen {
			// Requests lost on the way: the peer's own, if it is the one
			// suspected, are not evidence about its silence.
			gap := int(e.Seq - l.echoSeq - 1)
			pt.wit.miss += gap
		}
		l.echoEpoch, l.echoSeq = e.Epoch, e.Seq
		r := Echo{Op: EchoReply, ClusterID: m.cfg.ClusterID, UnitID: m.cfg.UnitID, To: e.UnitID,
			Interface: uint16(i), Epoch: e.Epoch, Seq: e.Seq}
		m.sendEcho(i, &r, out)
		m.c.EchoAnswered++
		pt.wit.frames++
		if l.state == Suspect {
			m.answered(now, l, false)
		}
		why = fmt.Sprintf("an echo request of unit %d arrived", e.UnitID)
	case EchoReply:
		if e.To != m.cfg.UnitID {
			return nil // the answer to another unit's request
		}
		k := slices.IndexFunc(pt.echoes, func(x pendingEcho) bool { return x.seq == e.Seq })
		if e.Epoch != m.cfg.Epoch || k < 0 || slices.Contains(pt.echoes[k].answered, e.UnitID) {
			m.c.Dropped.Replay++
			return fmt.Errorf("heartbeat: echo reply of unit %d to request %d (epoch %d) not awaited: %w", e.UnitID, e.Seq, e.Epoch, ErrReplay)
		}
		x := &pt.echoes[k]
		x.answered = append(x.answered, e.UnitID)
		m.c.EchoReplies++
		l.echoes = true
		if !x.resolved {
			pt.wit.ok++
		}
		if l.state == Suspect {
			m.answered(now, l, false)
		}
		why = fmt.Sprintf("unit %d answered an echo request", e.UnitID)
	}
	m.works(now, i, why, out)
	for _, id := range m.order {
		m.early(now, m.peers[id], out)
	}
	return nil
}

func (m *Machine) verifyEcho(b []byte) error { return m.sealer.VerifyEcho(b) }
