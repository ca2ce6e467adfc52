package fsx

import "errors"

// ErrUnsafeDir reports a directory that must not receive private files: a
// symbolic link, not a directory, owned by a user other than the current one
// and root, or writable by group or others while not owned by the current
// user.
var ErrUnsafeDir = errors.New("unsafe directory for private files")
