package acmetest

// TB is the part of testing.TB that [StartT] uses; *testing.T, *testing.B
// and *testing.F have it. It lets StartT serve tests without this package,
// which `certctl sandbox` links into the release binary, importing package
// testing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(f func())
}

// StartT starts a Server for a test or benchmark and closes it when tb ends.
// It fails tb if the Server cannot start.
func StartT(tb TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("acmetest: starting: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}
