package acmetest

// inFlight counts the orders the CA has in flight: created by a newOrder
// request and not yet finished, for tests of how many orders a client keeps
// open at once.
type inFlight struct {
	open map[string]bool // order IDs
	peak int
}

// OrdersInFlight returns how many orders are in flight now and the most
// that were at once since the Server started or [Server.ResetOrdersInFlight].
// An order is in flight from the answer to its newOrder request until the
// answer to its finalize request, or until a challenge of it fails
// validation; an order the client abandons stays in flight.
func (s *Server) OrdersInFlight() (now, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inFlight.open), s.inFlight.peak
}

// ResetOrdersInFlight forgets the orders in flight and their peak.
func (s *Server) ResetOrdersInFlight() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = inFlight{}
}

// orderOpened counts the order id as in flight.
func (s *Server) orderOpened(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight.open == nil {
		s.inFlight.open = map[string]bool{}
	}
	s.inFlight.open[id] = true
	s.inFlight.peak = max(s.inFlight.peak, len(s.inFlight.open))
}

// orderClosed counts the order id as finished.
func (s *Server) orderClosed(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight.open, id)
}
