package renew

import (
	"context"
	"fmt"
	"time"

	"github.com/certctl/certctl/acme"
)

// Timings are where one certificate's issuance or renewal spent its time,
// step by step (see [Result]).
type Timings struct {
	// Hooks is the pre hooks.
	Hooks time.Duration
	// Account is loading (or registering) the ACME account and fetching
	// the CA's directory.
	Account time.Duration
	// Order is placing the order, fetching its authorizations and
	// presenting the challenges (with the wait for an order slot under
	// MaxOrdersPerSecond).
	Order time.Duration
	// Validation is the wait for the CA to validate the challenges.
	Validation time.Duration
	// Finalize is sending the CSR, waiting for the certificate and
	// downloading it.
	Finalize time.Duration
	// Store is checking the new certificate and committing it.
	Store time.Duration
	// Deploy is the file bindings and the deploy and post hooks.
	Deploy time.Duration
	// Total is the whole attempt, from the pre hooks to the end of Deploy.
	Total time.Duration
}

// add adds the steps of one ACME order to t.
func (t *Timings) add(a acme.Timings) {
	t.Account += a.Setup
	t.Order += a.Order
	t.Validation += a.Validation
	t.Finalize += a.Finalize + a.Download
}

// Add returns the sum of t and u, step by step.
func (t Timings) Add(u Timings) Timings {
	return Timings{
		Hooks: t.Hooks + u.Hooks, Account: t.Account + u.Account, Order: t.Order + u.Order,
		Validation: t.Validation + u.Validation, Finalize: t.Finalize + u.Finalize,
		Store: t.Store + u.Store, Deploy: t.Deploy + u.Deploy, Total: t.Total + u.Total,
	}
}

// acquireOrderSlot waits until an order may be placed under
// MaxOrdersPerSecond (at once when it is zero), or ctx ends.
func (s *Service) acquireOrderSlot(ctx context.Context) error {
	l := s.orderLimiter()
	if l == nil {
		return nil
	}
	if err := l.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for an order slot (--max-orders-per-second): %w", err)
	}
	return nil
}
