package cli

import (
	"context"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// serviceOptions are the settings in which the commands' renewal services
// differ. The zero value is a service that may not register accounts, runs
// no global hooks and notifies nobody.
type serviceOptions struct {
	agreeTOS        bool
	eabKID, eabHMAC string
	workers         int
	hooks           store.Hooks
	webhook         string
	notify          notifySettings
	httpAddr        string
	// maxOrdersPerSecond is renew.Service.MaxOrdersPerSecond.
	maxOrdersPerSecond float64
	// maxConcurrentOrders is renew.Service.MaxConcurrentOrders.
	maxConcurrentOrders int
	// metrics counts the service's ACME requests in service.metrics.
	metrics bool
}

// service is a renewal service as the commands use it: the service, its
// account registry and, when asked for, its metrics.
type service struct {
	*renew.Service
	accounts *renew.Accounts
	metrics  *renew.Metrics
	// owned, when set, is a store the service opened itself (certService);
	// close closes it.
	owned store.Backend
	// client, when set, is the CA client the service built; close closes
	// its idle connections.
	client *http.Client
}

// service builds the renewal service over db; it is the only place the CLI
// does. Call close when done: it delivers pending notifications.
func (g *globals) service(db renew.Store, o serviceOptions) (*service, error) {
	hc, err := g.httpClient()
	if err != nil {
		return nil, err
	}
	s := &service{Service: &renew.Service{
		Store:       db,
		Logger:      g.logger,
		Now:         g.deps.Now,
		Workers:     o.workers,
		LockTimeout: g.lockTimeout,
		GlobalHooks: o.hooks,
		Solvers:     renew.Solvers{HTTPAddr: o.httpAddr},

		MaxOrdersPerSecond:  o.maxOrdersPerSecond,
		MaxConcurrentOrders: o.maxConcurrentOrders,
	}}
	s.Solvers.Shared, _ = db.(store.Shared) // challenge answers visible to every node sharing the store
	if o.metrics {
		s.metrics = renew.NewMetrics(s.Service)
		c := *hc
		c.Transport = s.metrics.Transport(c.Transport)
		hc = &c
	}
	s.accounts = &renew.Accounts{Store: db, HTTPClient: hc, Logger: g.logger, Now: g.deps.Now, Resolvers: g.resolverList(),
		AgreeTOS: o.agreeTOS, EABKeyID: o.eabKID, EABHMAC: o.eabHMAC}
	s.Issuers = s.accounts
	if g.deps.HTTPClient == nil {
		s.client = hc
	}
	if o.webhook != "" || o.notify.mail != nil {
		s.Notifier = &renew.Notifier{URL: o.webhook, Mail: o.notify.mail, Events: o.notify.events, Logger: g.logger}
	}
	return s, nil
}

// certService checks name, opens the store, makes sure the certificate
// exists (an unknown name is a usage error) and builds the service over the
// store, for the commands that act on one stored certificate.
func (g *globals) certService(cmd *cobra.Command, name string) (*service, error) {
	_, db, err := g.getCert(cmd, name)
	if err != nil {
		return nil, err
	}
	s, err := g.service(db, serviceOptions{})
	if err != nil {
		closeStore(db, g.logger)
		return nil, err
	}
	s.owned = db
	return s, nil
}

// close delivers the notifications still pending, for at most 30 seconds,
// and closes the store the service opened itself, if any.
func (s *service) close(ctx context.Context) {
	if s.owned != nil {
		defer closeStore(s.owned, s.Logger)
	}
	if s.client != nil {
		defer s.client.CloseIdleConnections()
	}
	if s.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = s.Notifier.Close(ctx)
}
