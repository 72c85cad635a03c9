// Package deps pins the module's dependencies while the packages that use
// them are written. It is removed once every dependency has a real user.
package deps

import (
	_ "github.com/jsimonetti/rtnetlink/v2"
	_ "github.com/mdlayher/arp"
	_ "github.com/mdlayher/ethernet"
	_ "github.com/mdlayher/ndp"
	_ "github.com/mdlayher/packet"
	_ "github.com/stretchr/testify/require"
	_ "github.com/ti-mo/conntrack"
	_ "golang.org/x/sys/unix"
)
