//go:build !linux

package check

import (
	"context"

	"github.com/hakit/hakit/internal/platform"
)

func findProcess(context.Context, string) error {
	return platform.Unsupported("check", "process")
}
