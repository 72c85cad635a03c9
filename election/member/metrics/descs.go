package metrics

import "github.com/prometheus/client_golang/prometheus"

// descs are the descriptors of the metrics read from the status.
type descs struct {
	role, isPrimary, prioConf, prioEff, linksUp, inSync, since, held *prometheus.Desc
	transitions, verdicts                                            *prometheus.Desc

	peerReachable, peerRole, peerPriority, linkState, linkLoss, lastHeard *prometheus.Desc

	hbSent, hbReceived, hbSendErrors, hbDropped                *prometheus.Desc
	probesSent, probeReplies, suspicions, recoveries           *prometheus.Desc
	collisions                                                 *prometheus.Desc
	takeovers, releases, stepFailures, downFailures            *prometheus.Desc
	reannounces, reannounceFailures, payloadDropped            *prometheus.Desc
	peersLost, splitBrains, handovers, handoverTimeouts        *prometheus.Desc
	witnessVetoes, depositions, verdictsIgnored                *prometheus.Desc
	garpSent, garpSendErrors, garpDropped                      *prometheus.Desc
	syncSessions, syncSending, syncReceiving, syncPeerInSync   *prometheus.Desc
	bulkRunning, bulkDone, bulkTotal                           *prometheus.Desc
	syncLag, backlogRecords, backlogBytes                      *prometheus.Desc
	checkFailing, checkWeight, checkRuns, checkFailures        *prometheus.Desc
	recordsSent, recordsReceived, resent, resyncs, syncDropped *prometheus.Desc
	syncDriverDropped                                          *prometheus.Desc

	all []*prometheus.Desc // every one of them, for Describe
}

func newDescs(ns string, cl prometheus.Labels) descs {
	var all []*prometheus.Desc
	m := func(name, help string, labels ...string) *prometheus.Desc {
		d := prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, cl)
		all = append(all, d)
		return d
	}
	peer := []string{"peer"}
	link := []string{"peer", "interface"}
	sp := []string{"sync_peer"}
	spd := []string{"sync_peer", "direction"}
	d := descs{
		role:        m("role", "This unit's role: 1 initial, 2 primary, 3 secondary."),
		isPrimary:   m("is_primary", "1 when this unit is the primary, else 0."),
		prioConf:    m("priority_configured", "This unit's configured election priority."),
		prioEff:     m("priority_effective", "The election priority this unit's heartbeats carry."),
		linksUp:     m("monitored_links_up", "Monitored interfaces whose link is up."),
		inSync:      m("in_sync", "1 when this unit's session table is the primary's."),
		since:       m("last_transition_timestamp_seconds", "When this unit's role last changed, in seconds since the epoch."),
		held:        m("takeover_steps_held", "Takeover steps that are up."),
		transitions: m("transitions_total", "Role changes of this unit, by new role and cause.", "to", "reason"),
		verdicts:    m("eifd_verdicts_total", "Heartbeat verdicts, by kind.", "kind"),

		peerReachable: m("peer_reachable", "1 when the peer is heard on some heartbeat interface and not lost.", peer...),
		peerRole:      m("peer_role", "The role the peer advertises: 1 initial, 2 primary, 3 secondary.", peer...),
		peerPriority:  m("peer_priority", "The election priority the peer advertises.", peer...),
		linkState:     m("peer_link_state", "The peer's state on a heartbeat interface: 1 alive, 2 suspect, 3 local fault, 4 peer fault, 5 peer down.", link...),
		linkLoss:      m("peer_link_loss_ratio", "Share of the peer's recent heartbeats that did not arrive on the interface.", link...),
		lastHeard:     m("peer_last_heard_timestamp_seconds", "When the peer's newest heartbeat was accepted on the interface, in seconds since the epoch.", link...),

		hbSent:       m("heartbeats_sent_total", "Heartbeat frames sent."),
		hbReceived:   m("heartbeats_received_total", "Heartbeat frames accepted."),
		hbSendErrors: m("heartbeat_send_errors_total", "Heartbeat frames or probes the transport failed to send."),
		hbDropped:    m("heartbeats_dropped_total", "Heartbeat frames rejected, by reason.", "reason"),
		probesSent:   m("eifd_probes_sent_total", "Early Interface Failure Detection probes sent."),
		probeReplies: m("eifd_probe_replies_total", "Early Interface Failure Detection probe replies received."),
		suspicions:   m("eifd_suspicions_total", "Peers' interfaces suspected after missed heartbeats."),
		recoveries:   m("eifd_recoveries_total", "Suspicions ended by heartbeats before a verdict."),
		collisions:   m("cluster_id_collisions_total", "Heartbeat frames that showed another cluster using this cluster's ID (the cluster ID must be unique on a network)."),

		takeovers:          m("takeovers_total", "Takeovers completed (every step up)."),
		releases:           m("releases_total", "Demotions completed (every step down)."),
		stepFailures:       m("takeover_step_failures_total", "Takeover steps whose Up failed (each rolled back and retried)."),
		downFailures:       m("step_down_failures_total", "Takeover steps whose Down failed."),
		reannounces:        m("reannounces_total", "Re-announcements after a split brain this unit won."),
		reannounceFailures: m("reannounce_failures_total", "Re-announcements that failed."),
		payloadDropped:     m("payloads_dropped_total", "Peers' election payloads dropped, by reason.", "reason"),

		peersLost:        m("election_peers_lost_total", "Peers the heartbeats declared lost."),
		splitBrains:      m("election_split_brains_total", "Split brains detected while primary."),
		handovers:        m("election_handovers_total", "Times this primary handed the role over (planned, preemption or reclaim)."),
		handoverTimeouts: m("election_handover_timeouts_total", "Handovers the successor did not accept in time."),
		witnessVetoes:    m("election_witness_vetoes_total", "Times the failing witness kept this unit from becoming primary."),
		depositions:      m("election_depositions_total", "Peer interface malfunction verdicts that deposed the primary."),
		verdictsIgnored:  m("election_verdicts_ignored_total", "Verdicts that changed nothing."),

		garpSent:       m("garp_sent_total", "Announcement frames sent, by kind: gratuitous ARP, unsolicited neighbour advertisement, learning frame.", "kind"),
		garpSendErrors: m("garp_send_errors_total", "Announcement frames that failed to send."),
		garpDropped:    m("garp_dropped_total", "Announcement frames not sent because their interface had just failed."),

		syncSessions:    m("sync_sessions", "Sessions in the table."),
		syncSending:     m("sync_sending", "1 while this unit replicates its table to the sync peer.", sp...),
		syncReceiving:   m("sync_receiving", "1 while this unit mirrors the sync peer's table.", sp...),
		syncPeerInSync:  m("sync_peer_in_sync", "1 when the receiving half holds the peer's whole table.", sp...),
		bulkRunning:     m("sync_bulk_running", "1 while a bulk sync runs.", spd...),
		bulkDone:        m("sync_bulk_records", "Records of the current or last bulk sync sent or applied.", spd...),
		bulkTotal:       m("sync_bulk_records_expected", "Records in the current or last bulk sync.", spd...),
		syncLag:         m("sync_lag_seconds", "Age of the oldest update sent to the sync peer and not acknowledged yet (0 when every one is).", sp...),
		backlogRecords:  m("sync_backlog_records", "Updates sent to the sync peer and not acknowledged yet.", sp...),
		backlogBytes:    m("sync_backlog_bytes", "Bytes of the datagrams sent to the sync peer and not acknowledged yet.", sp...),
		recordsSent:     m("sync_records_sent_total", "Session records sent (first transmission).", sp...),
		recordsReceived: m("sync_records_received_total", "Session records applied.", sp...),
		resent:          m("sync_datagrams_resent_total", "Sync datagrams sent again on request.", sp...),
		resyncs:         m("sync_resyncs_total", "Full resyncs: started by the sending half, requested by the receiving half.", spd...),
		syncDropped:     m("sync_datagrams_dropped_total", "Sync datagrams dropped, by half and reason.", "sync_peer", "direction", "reason"),
		syncDriverDropped: m("sync_driver_dropped_total",
			"Sync datagrams dropped before either half saw them (by the kernel, the transport or the driver), by reason.", "reason"),

		checkFailing:  m("check_failing", "1 while the health check fails (after its fall count), else 0.", "check"),
		checkWeight:   m("check_weight", "What the failing health check takes off the priority; 0: it makes the unit ineligible.", "check"),
		checkRuns:     m("check_runs_total", "Runs of the health check.", "check"),
		checkFailures: m("check_failures_total", "Runs of the health check that failed.", "check"),
	}
	d.all = all
	return d
}
