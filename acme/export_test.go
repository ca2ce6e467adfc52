package acme

import "testing"

// OnPortBusy makes the shared responders call f each time they find their
// port held by someone else and wait for it, until t ends.
func OnPortBusy(t testing.TB, f func(addr string)) {
	portBusyHook.Store(&f)
	t.Cleanup(func() { portBusyHook.Store(nil) })
}
