// Package metrics exports one cluster member (an election/member Driver)
// as Prometheus metrics: a prometheus.Collector over the unit's status and
// every part's counters, and the one metric the others lack, a histogram
// of how long each phase of a takeover took on the unit that took over.
//
// It is the only package of the module that imports the Prometheus client;
// the member package and the protocol packages do not depend on it.
//
//	c := metrics.New(unit, &metrics.Options{GARP: speaker.Stats})
//	cfg.OnEvent = c.Observe // before member.New; or call it from your own OnEvent
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Gauges and the counters of the parts are read from Status at every
// scrape, so the series of a peer, an interface or a sync peer that is no
// longer in the status are gone from the next scrape. The transition
// counter, the verdict counter and the phase histogram are fed by Observe
// with the Driver's events.
//
// # The metrics
//
// Every name starts with the namespace (default "hakit").
//
//	role                               gauge  1 initial, 2 primary, 3 secondary (hakit.Role)
//	is_primary                         gauge  1 on the primary
//	priority_configured                gauge  the configured priority
//	priority_effective                 gauge  the priority the heartbeats carry
//	monitored_links_up                 gauge  monitored interfaces up
//	in_sync                            gauge  1 when the session table is the primary's
//	last_transition_timestamp_seconds  gauge  when the role last changed
//	transitions_total{to,reason}       counter role changes, by new role and cause (below)
//	takeover_steps_held                gauge  takeover steps up
//	peer_reachable{peer}               gauge  1 when the peer is heard and not lost
//	peer_role{peer}                    gauge  the role the peer advertises
//	peer_priority{peer}                gauge  the priority the peer advertises
//	peer_link_state{peer,interface}    gauge  1 alive, 2 suspect, 3 local fault, 4 peer fault, 5 peer down
//	peer_last_heard_timestamp_seconds{peer,interface}
//	peer_link_loss_ratio{peer,interface}
//	heartbeats_sent_total, heartbeats_received_total, heartbeat_send_errors_total
//	heartbeats_dropped_total{reason}   malformed, other_cluster, auth, replay, stale, own, unknown_interface
//	eifd_probes_sent_total, eifd_probe_replies_total
//	eifd_suspicions_total, eifd_recoveries_total
//	eifd_verdicts_total{kind}          local_fault, peer_fault, peer_down
//	takeovers_total, releases_total, takeover_step_failures_total,
//	step_down_failures_total, reannounces_total, reannounce_failures_total
//	payloads_dropped_total{reason}     invalid, wrong_unit, collision
//	election_peers_lost_total, election_split_brains_total, election_handovers_total,
//	election_handover_timeouts_total, election_witness_vetoes_total,
//	election_depositions_total, election_verdicts_ignored_total
//	garp_sent_total{kind}              arp, na, learn (with Options.GARP)
//	garp_send_errors_total, garp_dropped_total
//	sync_sessions                      gauge  sessions in the table
//	sync_sending{sync_peer}, sync_receiving{sync_peer}, sync_peer_in_sync{sync_peer}
//	sync_bulk_running{sync_peer,direction}, sync_bulk_records{sync_peer,direction},
//	sync_bulk_records_expected{sync_peer,direction}   bulk sync progress: done of expected
//	sync_lag_seconds{sync_peer}        gauge  age of the oldest update the peer has not acknowledged
//	sync_backlog_records{sync_peer}, sync_backlog_bytes{sync_peer}   gauges: what it has not acknowledged
//	sync_records_sent_total, sync_records_received_total, sync_datagrams_resent_total,
//	sync_resyncs_total{sync_peer,direction}, sync_datagrams_dropped_total{sync_peer,direction,reason}
//	sync_driver_dropped_total{reason}  dropped before a half saw them: kernel, other_source,
//	                                   short_frame, other_ethertype, short, ignored, other_cluster,
//	                                   unknown_unit, write_queue_full
//	check_failing{check}               gauge  1 while the health check fails
//	check_weight{check}                gauge  what it takes off the priority; 0: the unit is ineligible
//	check_runs_total{check}, check_failures_total{check}
//	failover_phase_seconds{phase}      histogram: election, then each takeover step by name
//	failover_seconds                   histogram: fault (or election) to the last step up
//
// The reason of transitions_total is the role change's cause
// (member.Event.Cause, an election.Cause), one of: peer_lost (the primary
// was lost), interface_fault (an interface malfunction verdict on the
// primary), local_fault (this primary became worse than a peer: degraded
// or fewer links up), split_brain, peer_primary (another unit already
// holds the role), handover (planned, or a reclaim), preempt, witness,
// stand_down (the program told the primary to stand down), check (a
// health check stood the unit down), election (no primary was heard, or a
// plain selection, or a VRRP Master election), other. The words of the reason are in the logs and
// the events.
//
// sync_peer is the sync peer's place in the member configuration, from
// 0; direction is "send" or "receive".
package metrics
