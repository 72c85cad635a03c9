//go:build race

package statesync_test

// raceEnabled scales the simulated acceptance tests down under the race
// detector (which slows the simulated segment about fifty-fold); the full
// counts run without -race.
const raceEnabled = true
