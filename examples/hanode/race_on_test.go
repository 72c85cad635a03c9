//go:build race

package main

// buildFlags are the flags the end-to-end tests build the daemon with: a
// race-enabled test run checks the daemon for races too.
var buildFlags = []string{"-race"}
