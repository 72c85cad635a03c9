package member_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
)

// A Machine whose role another protocol decides (a RoleSource: here the
// caller says what a VRRP virtual router decided) runs the same takeover:
// the steps come up in order when the role is Primary and go down in
// reverse when it is not.
func ExampleMachine_Assign() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := func(name string) member.Step {
		return member.Func(name,
			func(context.Context) error { fmt.Println(name, "up"); return nil },
			func(context.Context) error { fmt.Println(name, "down"); return nil })
	}
	m, err := member.NewMachine(now, &member.MachineConfig{
		Election: &election.Config{Unit: 1},
		Assigned: true, // no heartbeat links: the role comes from Assign
		Steps:    []member.Step{step("addresses"), step("announce")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	run := func() {
		out := m.Tick(now)
		if out.Changed {
			fmt.Println(out.Role, "-", out.Reason)
		}
		for out.Run != nil {
			_ = m.Done(now, *out.Run, out.Run.Run(context.Background()))
			out = m.Tick(now)
		}
	}
	m.Assign(now, hakit.Secondary, "VRRP BACKUP: started")
	run()
	now = now.Add(361 * time.Millisecond)
	m.Assign(now, hakit.Primary, "VRRP MASTER: no advertisement for Master_Down_Interval")
	run()
	now = now.Add(time.Second)
	m.Assign(now, hakit.Secondary, "VRRP BACKUP: a higher priority advertised")
	run()
	// Output:
	// secondary - VRRP BACKUP: started
	// primary - VRRP MASTER: no advertisement for Master_Down_Interval
	// addresses up
	// announce up
	// secondary - VRRP BACKUP: a higher priority advertised
	// announce down
	// addresses down
}
