//go:build windows

package fsx

import (
	"fmt"
	"os"

	"github.com/certctl/certctl/internal/winacl"
)

// checkOwner accepts a directory owned by the current user, SYSTEM or
// Administrators. Its access control list is not judged: the private files
// written in it get their own ([winacl.Restrict]).
func checkOwner(_ *os.Root, path string, _ os.FileInfo) error {
	if err := winacl.CheckOwner(path); err != nil {
		return fmt.Errorf("%s: %w: %v", path, ErrUnsafeDir, err)
	}
	return nil
}
