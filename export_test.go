package certctl

import (
	"time"

	"github.com/certctl/certctl/renew"
)

// NewWithRenewHook is New with a hook that sees every event of the renewal
// manager.
func NewWithRenewHook(cfg *Config, hook func(renew.Event)) (*Manager, error) {
	return newManager(cfg, hook)
}

// SetOnDemandClock replaces the clock of m's denials and back-offs.
func SetOnDemandClock(m *Manager, now func() time.Time) { m.od.now = now }
