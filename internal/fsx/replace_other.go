//go:build !linux

package fsx

import (
	"errors"
	"os"
)

// canExchange reports that there is no atomic directory exchange here.
const canExchange = false

func exchange(string, string) error { return errors.ErrUnsupported }

func inherit(*os.Root, string) error { return nil }
