package certctl

import "errors"

var (
	// ErrClosed reports a call on a [Manager] after Close.
	ErrClosed = errors.New("certctl: manager closed")
	// ErrBadServerName reports an on-demand handshake whose server name is
	// an IP address or not a valid DNS name; Allow was not asked.
	ErrBadServerName = errors.New("certctl: server name not valid for a certificate")
	// ErrDenied reports an on-demand name refused by OnDemand.Allow (now or
	// within its DenyTTL).
	ErrDenied = errors.New("certctl: on-demand issuance denied")
	// ErrRateLimited reports an on-demand name not ordered because the
	// Manager's rate of new orders (OnDemand.Orders per Per) was reached.
	ErrRateLimited = errors.New("certctl: on-demand order rate limit reached")
	// ErrBackoff reports an on-demand name not ordered because its last
	// order failed recently (OnDemand.Backoff).
	ErrBackoff = errors.New("certctl: on-demand name backing off after a failed order")
)
