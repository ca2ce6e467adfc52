package certctl

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certctl/certctl/store"
)

// SessionTicketsKey is the shared key ([store.Shared]) under which
// [SessionTickets] keeps a fleet's session ticket keys by default.
const SessionTicketsKey = "tls-session-tickets"

// SessionTickets shares the TLS session ticket keys of a fleet through its
// store, so that a client whose session began on one node resumes it on
// any other (an abbreviated handshake) instead of starting over.
//
// The store holds one set of 32-byte keys, newest first, under Key. Any
// node whose Update finds the newest key older than Rotation adds a new one
// (a compare-and-swap on the set: when several nodes try at once, one wins
// and the others adopt its key) and drops all but the newest Keys. Every
// node encrypts new tickets with the newest key that is at least two
// Refresh intervals old, so that every node has read it before it sees a
// ticket made with it, and decrypts with any key of the set.
//
// The keys are secrets that can decrypt recorded sessions. With a store key
// ([store.Options.SealKey]) they are sealed at rest like the certificates'
// private keys, and every node then needs that key to read them; without
// one they are in the clear: restrict access to the store accordingly.
//
// Set the fields before the first Update; zero values are documented per
// field. A SessionTickets is safe for concurrent use.
type SessionTickets struct {
	// Store holds the keys. Required.
	Store store.Shared
	// Key is the shared key of the set. "" means [SessionTicketsKey].
	Key string
	// Rotation is the age at which a new key replaces the newest for
	// encryption. Zero means one hour.
	Rotation time.Duration
	// Keys is how many keys are kept for decryption, the newest included:
	// a ticket stops resuming once Keys newer keys exist. Zero means 24
	// (a day at the default Rotation).
	Keys int
	// Refresh is how often Run reads the set again. Zero means one minute.
	Refresh time.Duration
	// Logger receives rotations and failures. Nil discards.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex // serialises Update
	rev     uint64     // revision of the set installed, 0 before the first
	order   []int      // order of the installed keys (indexes of the set)
	current atomic.Pointer[tls.Config]
}

// ticketKey is one key of the stored set.
type ticketKey struct {
	Created int64  `json:"created"` // Unix seconds
	Key     []byte `json:"key"`     // 32 bytes, base64 in JSON
}

// ticketSet is the stored value, keys newest first.
type ticketSet struct {
	Keys []ticketKey `json:"keys"`
}

func (t *SessionTickets) key() string {
	if t.Key == "" {
		return SessionTicketsKey
	}
	return t.Key
}

func (t *SessionTickets) rotation() time.Duration {
	if t.Rotation <= 0 {
		return time.Hour
	}
	return t.Rotation
}

func (t *SessionTickets) keys() int {
	if t.Keys <= 0 {
		return 24
	}
	return t.Keys
}

func (t *SessionTickets) refresh() time.Duration {
	if t.Refresh <= 0 {
		return time.Minute
	}
	return t.Refresh
}

func (t *SessionTickets) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *SessionTickets) log() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Configure makes cfg encrypt and decrypt session tickets with the shared
// keys, through its WrapSession and UnwrapSession hooks (which it
// replaces): they survive cfg.Clone, so a server that copies its
// configuration (http.Server.ServeTLS does) still follows every later
// Update. Until the first Update, tickets use keys of this process alone.
func (t *SessionTickets) Configure(cfg *tls.Config) {
	local := &tls.Config{} // its own random keys, rotated by crypto/tls
	keys := func() *tls.Config {
		if c := t.current.Load(); c != nil {
			return c
		}
		return local
	}
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		return keys().EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		return keys().DecryptTicket(identity, cs)
	}
}

// Update reads the set of keys from the store, rotates it if its newest key
// is older than Rotation, and installs it for every configured tls.Config.
// On error the keys installed before stay in use.
func (t *SessionTickets) Update(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		set, rev, err := t.read(ctx)
		if err != nil {
			return err
		}
		now := t.now()
		if len(set.Keys) > 0 && now.Sub(time.Unix(set.Keys[0].Created, 0)) < t.rotation() {
			t.install(set, rev, now)
			return nil
		}
		next := ticketSet{Keys: make([]ticketKey, 1, t.keys())}
		next.Keys[0] = ticketKey{Created: now.Unix(), Key: make([]byte, 32)}
		_, _ = rand.Read(next.Keys[0].Key) // never fails (crypto/rand)
		next.Keys = append(next.Keys, set.Keys[:min(len(set.Keys), t.keys()-1)]...)
		val, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("session ticket keys: encoding: %w", err)
		}
		newRev, err := t.Store.PutShared(ctx, t.key(), val, rev, 0)
		if errors.Is(err, store.ErrConflict) {
			continue // another node rotated first: adopt its set
		}
		if err != nil {
			return fmt.Errorf("session ticket keys: rotating: %w", err)
		}
		t.log().Info("session ticket key rotated", "key", t.key(), "keys", len(next.Keys))
		t.install(next, newRev, now)
		return nil
	}
}

// read returns the stored set and its revision (0 and an empty set if none).
// A set that does not decode is reported and treated as empty, so the next
// rotation replaces it.
func (t *SessionTickets) read(ctx context.Context) (ticketSet, uint64, error) {
	val, rev, err := t.Store.GetShared(ctx, t.key())
	if errors.Is(err, store.ErrNotFound) {
		return ticketSet{}, 0, nil
	}
	if err != nil {
		return ticketSet{}, 0, fmt.Errorf("session ticket keys: reading: %w", err)
	}
	var set ticketSet
	err = json.Unmarshal(val, &set)
	if err == nil && !slices.ContainsFunc(set.Keys, func(k ticketKey) bool { return len(k.Key) != 32 }) {
		return set, rev, nil
	}
	t.log().Warn("session ticket keys unreadable; replacing them", "key", t.key(), "error", err)
	return ticketSet{}, rev, nil
}

// install makes set the keys of every configured tls.Config, the key to
// encrypt with first: the newest that every node has had two Refresh
// intervals to read, or the oldest of the set when all are newer (a fleet's
// first key).
func (t *SessionTickets) install(set ticketSet, rev uint64, now time.Time) {
	if len(set.Keys) == 0 {
		return
	}
	enc := len(set.Keys) - 1
	for i, k := range set.Keys {
		if now.Sub(time.Unix(k.Created, 0)) >= 2*t.refresh() {
			enc = i
			break
		}
	}
	order := []int{enc}
	for i := range set.Keys {
		if i != enc {
			order = append(order, i)
		}
	}
	if rev == t.rev && slices.Equal(order, t.order) {
		return
	}
	keys := make([][32]byte, len(order))
	for i, j := range order {
		keys[i] = [32]byte(set.Keys[j].Key)
	}
	c := &tls.Config{}
	c.SetSessionTicketKeys(keys)
	t.current.Store(c)
	t.rev, t.order = rev, order
	t.log().Debug("session ticket keys installed", "keys", len(keys), "encrypting_with_created",
		time.Unix(set.Keys[enc].Created, 0))
}

// Run calls Update every Refresh until ctx is done, logging failures (the
// keys installed before stay in use), and returns ctx's error.
func (t *SessionTickets) Run(ctx context.Context) error {
	tick := time.NewTicker(t.refresh())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := t.Update(ctx); err != nil && ctx.Err() == nil {
			t.log().Warn("session ticket keys not updated", "error", err)
		}
	}
}

// ShareSessionTickets makes cfg use the session ticket keys that the nodes
// sharing s keep together (see [SessionTickets], with its defaults: a new
// key every hour, the last 24 kept): it installs them at once, returning an
// error if it cannot, and keeps them current in the background until ctx
// is done.
func ShareSessionTickets(ctx context.Context, s store.Shared, cfg *tls.Config) error {
	t := &SessionTickets{Store: s}
	t.Configure(cfg)
	if err := t.Update(ctx); err != nil {
		return err
	}
	go func() { _ = t.Run(ctx) }()
	return nil
}
