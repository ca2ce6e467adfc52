package acmetest

import "testing"

// StartT starts a Server for a test or benchmark and closes it when tb ends.
// It fails tb if the Server cannot start.
func StartT(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("acmetest: starting: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}
