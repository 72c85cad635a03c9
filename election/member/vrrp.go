package member

import (
	"sync"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/vrrp"
)

// VRRP is a RoleSource that runs a VRRP virtual router (a vrrp.Driver):
// as its Master the unit is Primary and takes over, as a Backup it is
// Secondary and releases. The unit can so pair with keepalived or share an
// address with a router; the takeover is the Driver's, step by step, as
// with hakit's own election.
type VRRP struct {
	d *vrrp.Driver

	mu   sync.Mutex
	set  func(hakit.Role, string)
	user func(vrrp.Transition)
}

// NewVRRP returns a VRRP role source for a new vrrp.Driver of cfg on
// conn. dc may be nil; its OnTransition, if set, is called after each
// transition was passed on as a role. The VRRP owns conn from now on:
// Close closes it, and so does NewVRRP when it fails.
func NewVRRP(conn vrrp.Conn, cfg *vrrp.Config, dc *vrrp.DriverConfig) (*VRRP, error) {
	v := &VRRP{}
	c := vrrp.DriverConfig{}
	if dc != nil {
		c = *dc
	}
	v.user, c.OnTransition = c.OnTransition, v.transition
	d, err := vrrp.NewDriver(conn, cfg, &c)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	v.d = d
	return v, nil
}

// VRRPRole returns the unit's role for a VRRP state: Master is Primary,
// Backup Secondary, Initialize (not started, or stopped) Initial.
func VRRPRole(s vrrp.State) hakit.Role {
	switch s {
	case vrrp.Master:
		return hakit.Primary
	case vrrp.Backup:
		return hakit.Secondary
	}
	return hakit.Initial
}

func (v *VRRP) transition(t vrrp.Transition) {
	v.mu.Lock()
	set := v.set
	v.mu.Unlock()
	if set != nil {
		set(VRRPRole(t.To), "VRRP "+t.To.String()+": "+t.Reason)
	}
	if v.user != nil {
		v.user(t)
	}
}

// Start starts the virtual router (the Startup event): it becomes Backup,
// or Master at once as the address owner (priority 255).
func (v *VRRP) Start(set func(hakit.Role, string)) error {
	v.mu.Lock()
	v.set = set
	v.mu.Unlock()
	return v.d.Start()
}

// Close is the Shutdown event: as Master the router sends an
// advertisement of priority 0, so that a Backup takes over after its
// Skew_Time. It returns once the driver has stopped.
func (v *VRRP) Close() error {
	err := v.d.Shutdown()
	<-v.d.Done()
	return err
}

// Driver returns the virtual router's driver, for its status and to change
// its priority (vrrp.Driver.SetPriority: tracking).
func (v *VRRP) Driver() *vrrp.Driver { return v.d }

var _ RoleSource = (*VRRP)(nil)
