package conntrack

// FollowerStats counts what a Follower did.
type FollowerStats struct {
	Dumped    uint64 // flows read by dumps (the first, and each Resync)
	Dumps     uint64 // dumps done
	New       uint64 // NEW events
	Updates   uint64 // UPDATE events
	Destroys  uint64 // DESTROY events
	Upserts   uint64 // sessions written to the table
	Deletes   uint64 // sessions removed from the table
	Stale     uint64 // table entries a dump did not contain, removed
	Skipped   uint64 // flows not converted (protocol, template, dying)
	Filtered  uint64 // flows Rules or Filter rejected
	Overruns  uint64 // times the kernel reported lost events (ENOBUFS)
	OtherErrs uint64 // other event socket errors
	// Checked counts sessions near their deadline looked up in the
	// kernel by the refresh; Refreshed those the kernel had kept alive
	// (upserted with its new deadline); Vanished those it no longer had
	// (deleted: their DESTROY event was lost).
	Checked, Refreshed, Vanished uint64
	// Expectations counts the expectations (connections a helper
	// expects) written to the table, from dumps and events; ExpectDrops
	// those the table refused (it held statesync.MaxExpectations).
	Expectations, ExpectDrops uint64
}

// InjectorStats counts what an Injector did.
type InjectorStats struct {
	// Injected counts sessions written into the kernel: created, or
	// updated when the kernel had them.
	Injected uint64
	// Updated counts, of those, existing entries the kernel would not
	// rewrite whole and that were updated in place: their tuples and NAT
	// bindings cannot change, nor can SEEN_REPLY or ASSURED be cleared.
	Updated     uint64
	InjectedNAT uint64 // sessions written with NAT bindings
	// Revived counts sessions whose deadline had passed, written with
	// Config.Grace as their timeout: usually a busy flow whose last
	// conntrack event is old.
	Revived uint64
	Deleted uint64 // entries deleted
	Expired uint64 // sessions skipped because their deadline passed (Grace < 0)
	Skipped uint64 // sessions that cannot be converted
	Failed  uint64 // sessions the kernel refused
	Refused uint64 // sessions the Guard refused
	Batches uint64 // netlink batches sent (many requests per system call)
	// Followed counts the changes Follow wrote as they arrived; Tail
	// those the last Commit of a followed table had left to write.
	Followed, Tail uint64
	// Expectations counts the expectations Commit created; ExpectSkipped
	// those it did not write (their master is not in the table, or they
	// cannot be converted); ExpectFailed those the kernel refused.
	Expectations, ExpectSkipped, ExpectFailed uint64
}
