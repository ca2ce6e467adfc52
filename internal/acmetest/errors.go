package acmetest

import "errors"

// ErrNotFound is returned when the CA does not know the certificate asked about.
var ErrNotFound = errors.New("acmetest: not found")

// ErrClosed is returned by methods of a Server that has been closed.
var ErrClosed = errors.New("acmetest: server closed")

// ErrUnexpectedPebble is returned by Start when the Pebble library does not
// behave as this package expects (an unsupported Pebble version).
var ErrUnexpectedPebble = errors.New("acmetest: unexpected pebble behaviour")

// ErrManagement is returned when Pebble's management API answers with an
// unexpected HTTP status.
var ErrManagement = errors.New("acmetest: management request failed")

// ErrBadOptions is returned by Start when Options hold an invalid value.
var ErrBadOptions = errors.New("acmetest: invalid options")
