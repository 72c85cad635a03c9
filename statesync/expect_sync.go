package statesync

import "time"

// UpsertExpect records that e was created or changed. The caller stores it
// in the table first (Table.UpsertExpect). Sender.Filter does not apply to
// expectations.
func (s *Sender) UpsertExpect(now time.Time, e Expectation) {
	r := record{recordOp: opExpect, Expect: e}
	s.append(now, &r)
}

// DeleteExpect records that the expectation with key k was removed (the
// expected connection arrived, or it timed out).
func (s *Sender) DeleteExpect(now time.Time, k Key) {
	r := record{recordOp: opExpectDelete, Expect: Expectation{Key: k}}
	s.append(now, &r)
}

// bulkExpects sends the table's own expectations (not those received
// from other units, in active-active) at the end of a bulk sync: they are
// few (at most MaxExpectations).
func (s *Sender) bulkExpects(now time.Time) {
	epoch := s.epoch
	for _, e := range s.cfg.Table.ownExpectations(nil) {
		r := record{recordOp: opExpect, Expect: e}
		s.append(now, &r)
		if s.epoch != epoch {
			return // a resync restarted the bulk sync
		}
	}
}

// applyExpect applies an expectation record to the table.
func (r *Receiver) applyExpect(now time.Time, rec *record) {
	t := r.cfg.Table
	if rec.recordOp == opExpectDelete {
		t.DeleteExpect(rec.Expect.Key)
		return
	}
	if !t.storeExpect(now, normalExpect(rec.Expect), r.cfg.Origin, r.gen) {
		r.stats.DropExpect++
	}
}

// UpsertExpect stores e in the table (Table.UpsertExpect) and sends it to
// the peers; it reports false if the table refused it (full).
func (d *Driver) UpsertExpect(e Expectation) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	e = normalExpect(e)
	if !d.cfg.Table.UpsertExpect(now, e) {
		return false
	}
	if d.sending && !d.closed {
		for _, l := range d.links {
			l.s.UpsertExpect(now, e)
		}
		if d.pendingLocked() {
			d.flushLocked()
		}
	}
	return true
}

// DeleteExpect removes the expectation with key k from the table and sends
// the deletion to the peers.
func (d *Driver) DeleteExpect(k Key) (Expectation, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.cfg.Table.DeleteExpect(k)
	if ok && d.sending && !d.closed {
		now := d.clk.Now()
		for _, l := range d.links {
			l.s.DeleteExpect(now, e.Key)
		}
		if d.pendingLocked() {
			d.flushLocked()
		}
	}
	return e, ok
}

// expireExpectsLocked removes the expired expectations; d.mu is held.
// Their deletions are not sent: every unit's kernel and table forget them
// at the same deadline.
func (d *Driver) expireExpectsLocked(now time.Time) int {
	return d.cfg.Table.ExpireExpects(now, nil)
}
