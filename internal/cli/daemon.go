package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/certctl/certctl/internal/httplimit"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

type daemonOptions struct {
	g           *globals
	schedule    string
	httpAddr    string
	metricsAddr string
	webhook     string
	webhookFile string
	notify      notifyFlags
	workers     int
	grace       time.Duration
	hooks       hookFlags
	serveChall  bool
	config      string // apply.go: the certificates file reconciled
	agreeTOS    bool
	maxOrders   float64
	maxInFlight int
}

// NewCmdDaemon returns `certctl daemon`.
func NewCmdDaemon(g *globals) *cobra.Command {
	o := &daemonOptions{g: g}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Renew certificates unattended (for systemd); serves /metrics and /healthz",
		Long: "Run the renewal manager: scan the store on --schedule (cron syntax) and also wake at the\n" +
			"earliest due time, renew what is due in parallel, retry failures with back-off, run hooks and\n" +
			"file bindings, and report through logs, metrics and an optional webhook.\n" +
			"SIGHUP scans at once; SIGINT/SIGTERM stop after in-flight renewals (up to --shutdown-timeout).",
		Example: "  certctl daemon --schedule '@every 10m' --http-addr :80 --metrics-addr 127.0.0.1:9464",
		Args:    cobra.NoArgs,
		// PreRunE checks the flags alone (certctl service install checks
		// the daemon flags it records with it too).
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.checkFlags() },
		RunE:    func(cmd *cobra.Command, args []string) error { return runDaemon(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.schedule, "schedule", renew.DefaultSchedule, "how often to scan (cron spec or @every DURATION)")
	f.StringVar(&o.httpAddr, "http-addr", "", "address of the HTTP-01 responder for every certificate (default: each certificate's own)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address for /metrics and /healthz (empty disables)")
	addWebhookFlags(f, &o.webhook, &o.webhookFile, "URL to POST JSON notifications to (renewal failures, certificates about to expire)")
	o.notify.add(f, o.g)
	f.IntVar(&o.workers, "workers", defaultRenewWorkers, "renewals (and --config certificates) worked on at once")
	f.DurationVar(&o.grace, "shutdown-timeout", 30*time.Second, "how long in-flight renewals may finish after a stop signal")
	f.BoolVar(&o.serveChall, "serve-challenges", false, "keep the HTTP-01 responder on --http-addr (default :80) up, answering the tokens of every node sharing the store (fleets behind a load balancer)")
	addMaxOrdersFlag(f, &o.maxOrders)
	addMaxConcurrentFlag(f, &o.maxInFlight)
	o.hooks.add(f, "any certificate")
	f.StringVar(&o.config, "config", "", "certificates file (as for certctl apply) to reconcile the store with at start, on SIGHUP and when it changes")
	f.BoolVar(&o.agreeTOS, "agree-tos", false, "agree to the CA's terms of service (to register an account for --config)")
	return cmd
}

// checkFlags checks the daemon's flags that need no file or network.
func (o *daemonOptions) checkFlags() error {
	if _, err := renew.ParseSchedule(o.schedule); err != nil {
		return usagef("--schedule: %v", err)
	}
	if o.workers < 1 || o.workers > 64 {
		return usagef("--workers %d: want 1 to 64", o.workers)
	}
	if err := checkMaxOrders(o.maxOrders); err != nil {
		return err
	}
	if err := checkMaxConcurrent(o.maxInFlight); err != nil {
		return err
	}
	_, err := o.hooks.hooks()
	return err
}

func runDaemon(cmd *cobra.Command, o *daemonOptions) error {
	webhook, err := o.g.webhookURL(o.webhook, o.webhookFile)
	if err != nil {
		return err
	}
	o.webhook = webhook
	notify, err := o.notify.resolve(o.g)
	if err != nil {
		return err
	}
	global, err := o.hooks.hooks()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	logger := o.g.logger
	db, err := o.openStore(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	defer closeStore(db, o.g.logger)
	svc, err := o.g.service(db, serviceOptions{workers: o.workers, hooks: global, webhook: o.webhook, notify: notify,
		httpAddr: o.httpAddr, metrics: true, agreeTOS: o.agreeTOS, maxOrdersPerSecond: o.maxOrders,
		maxConcurrentOrders: o.maxInFlight})
	if err != nil {
		return err
	}
	defer svc.close(ctx)
	if o.serveChall {
		release, err := svc.ServeChallenges(ctx, o.httpAddr)
		if err != nil {
			return err
		}
		defer release()
	}
	m := &renew.Manager{Service: svc.Service, Schedule: o.schedule, Logger: logger, ShutdownGrace: o.grace,
		Notify: svc.metrics.Observe}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, svc.metrics, m, logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	var rec *configReconciler
	if o.config != "" {
		if rec, err = newConfigReconciler(o.g, svc.Service, o.config, o.workers, cmd.ErrOrStderr()); err != nil {
			return err
		}
		done := make(chan struct{})
		defer func() { <-done }()
		go func() { defer close(done); rec.run(ctx) }()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: scanning now")
				m.ScanNow()
				rec.trigger("SIGHUP")
			}
		}
	}()

	logger.Info("daemon started", "store", db.Location(), "schedule", o.schedule, "workers", o.workers)
	defer logger.Info("daemon stopped")
	if err := m.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// openStore opens the store. While it is unreachable (etcd down when the
// daemon starts) it retries with the manager's back-off, logging once,
// until ctx is done. Other errors are returned at once.
func (o *daemonOptions) openStore(ctx context.Context) (store.Backend, error) {
	for n := 1; ; n++ {
		db, err := o.g.openStore(ctx)
		if err == nil {
			if n > 1 {
				o.g.logger.Info("store available", "store", db.Location(), "attempts", n)
			}
			return db, nil
		}
		if !errors.Is(err, store.ErrUnreachable) {
			return nil, err
		}
		if n == 1 {
			o.g.logger.Error("store unreachable at start; retrying with back-off", "err", err)
		}
		t := time.NewTimer(renew.StoreRetry(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (while %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// metricsLimits bound the metrics server's connections (a variable for
// tests).
var metricsLimits = httplimit.Metrics

// serveMetrics serves /metrics (metrics and the Go runtime's) and /healthz
// (ok once m finished a scan) on addr until stop is called.
func serveMetrics(addr string, metrics *renew.Metrics, m *renew.Manager, logger *slog.Logger) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		last := m.LastScan()
		ok := !last.IsZero()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": ok, "last_scan": timePtr(last), "store_up": m.StoreUp()})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := httplimit.Server(mux, metricsLimits)
	go func() { _ = srv.Serve(httplimit.Listener(ln, metricsLimits)) }()
	logger.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
