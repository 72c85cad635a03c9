package platform

import (
	"errors"
	"runtime"
	"testing"
)

func TestUnsupported(t *testing.T) {
	err := Unsupported("vmac", "set MAC")
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("%v does not wrap errors.ErrUnsupported", err)
	}
	if want := "vmac: set MAC: not supported on " + runtime.GOOS; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}
