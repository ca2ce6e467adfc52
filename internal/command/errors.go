package command

import "errors"

// ErrTimeout reports a command killed, with its process group, because it
// ran longer than its timeout.
var ErrTimeout = errors.New("command timed out")
