//go:build !race

package main

// buildFlags are the flags the end-to-end tests build the daemon with.
var buildFlags []string
