package member_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/internal/clock"
)

// A health check with a weight: after Fall failures in a row the weight
// comes off the priority the unit advertises; after Rise passes it is
// back. The Driver runs the Probe and feeds CheckResult itself.
func ExampleMachine_CheckResult() {
	ec := election.DefaultConfig()
	ec.Unit, ec.Priority = 1, 200
	m, err := member.NewMachine(clock.Epoch, &member.MachineConfig{
		Election: ec,
		Links:    []member.Link{{Name: "eth0"}},
		Checks:   []member.Check{{Name: "haproxy", Fall: 2, Rise: 2, Weight: 50}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := clock.Epoch
	for _, result := range []error{nil, errors.New("exit status 1"), errors.New("exit status 1"), nil, nil} {
		now = now.Add(time.Second)
		_ = m.CheckResult(now, "haproxy", result)
		for _, e := range m.Tick(now).Events {
			if e.Kind == member.EventCheck {
				fmt.Println(e.Reason)
			}
		}
		fmt.Println("advertised priority", m.Candidate(now).Priority)
	}
	// Output:
	// advertised priority 200
	// advertised priority 200
	// check haproxy failed 2 times: exit status 1: priority 200 -> 150
	// advertised priority 150
	// advertised priority 150
	// check haproxy passed 2 times: priority 150 -> 200
	// advertised priority 200
}
