//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "ctbench: network namespaces and netfilter conntrack are Linux only, not %s\n", runtime.GOOS)
	os.Exit(1)
}
