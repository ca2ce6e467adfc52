package certctl

import "time"

// EventType says what an [Event] reports.
type EventType string

// The event types.
const (
	// EventObtained: a first certificate for a name was obtained (by
	// Manage or on demand) and is served.
	EventObtained EventType = "obtained"
	// EventRenewed: a renewed certificate replaced the one served.
	EventRenewed EventType = "renewed"
	// EventFailed: obtaining or renewing a certificate failed; Err says why.
	// The renewal manager retries with back-off.
	EventFailed EventType = "failed"
	// EventExpiring: renewing failed and the served certificate is in the
	// last tenth of its lifetime.
	EventExpiring EventType = "expiring"
)

// Event is one thing a [Manager] did, given to Config.OnEvent.
type Event struct {
	Type EventType
	// Name is the certificate's name (its first domain).
	Name string
	// Serial and NotAfter describe the certificate served after the event
	// (lower-case hex; zero when none).
	Serial   string
	NotAfter time.Time
	// Err is the failure, for EventFailed and EventExpiring.
	Err error
	// Time is when it happened.
	Time time.Time
}
