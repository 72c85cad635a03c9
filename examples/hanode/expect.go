package main

import (
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/statesync/conntrack"
)

// The unit is the Follower's Sink: with ExpectSink too, the expectations
// the kernel's helpers create (FTP data, SIP media) are replicated with the
// sessions, and the standby's Injector creates them at commit.
var _ conntrack.ExpectSink = (*member.Driver)(nil)
