//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "hblatency: network namespaces and AF_PACKET are Linux only, not %s\n", runtime.GOOS)
	os.Exit(1)
}
