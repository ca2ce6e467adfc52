package cli

import (
	"github.com/spf13/cobra"

	"github.com/certctl/certctl/renew"
)

type renewOptions struct {
	g       *globals
	all     bool
	force   bool
	workers int
	hooks   hookFlags
	webhook string
	hookURL string // --webhook-file
	notify  notifyFlags

	maxOrdersPerSecond  float64
	maxConcurrentOrders int
	reuseKey            bool
}

// NewCmdRenew returns `certctl renew`.
func NewCmdRenew(g *globals) *cobra.Command {
	o := &renewOptions{g: g}
	cmd := &cobra.Command{
		Use:   "renew [NAME...]",
		Short: "Renew the certificates that are due (all of them when no name is given)",
		Long: "Renew every named certificate (or all with --all or no name) that is due: inside the CA's ARI\n" +
			"window when it gives one, otherwise when a third of its lifetime is left (half for lifetimes\n" +
			"under 10 days). Renewals run in parallel. Exit code 3 means some of several failed.",
		Example: "  certctl renew --all\n  certctl renew example.com --force",
		RunE:    func(cmd *cobra.Command, args []string) error { return runRenew(cmd, o, args) },
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "renew every due certificate (the default when no name is given)")
	cmd.Flags().BoolVar(&o.force, "force", false, "renew even if not due")
	cmd.Flags().IntVar(&o.workers, "workers", defaultRenewWorkers, "renewals run at once")
	addWebhookFlags(cmd.Flags(), &o.webhook, &o.hookURL, "URL to POST JSON notifications of failures to")
	o.notify.add(cmd.Flags(), g)
	o.hooks.add(cmd.Flags(), "any certificate")
	g.addTimingsFlag(cmd.Flags())
	addMaxOrdersFlag(cmd.Flags(), &o.maxOrdersPerSecond)
	addMaxConcurrentFlag(cmd.Flags(), &o.maxConcurrentOrders)
	cmd.Flags().BoolVar(&o.reuseKey, "reuse-key", false, "keep (or with =false, stop keeping) the named certificates' keys from now on")
	return cmd
}

func runRenew(cmd *cobra.Command, o *renewOptions, names []string) error {
	if o.all && len(names) > 0 {
		return usagef("give certificate names or --all, not both")
	}
	if o.workers < 1 || o.workers > 64 {
		return usagef("--workers %d: want 1 to 64", o.workers)
	}
	if err := checkMaxOrders(o.maxOrdersPerSecond); err != nil {
		return err
	}
	if err := checkMaxConcurrent(o.maxConcurrentOrders); err != nil {
		return err
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
	}
	setReuse := cmd.Flags().Changed("reuse-key")
	if setReuse && len(names) == 0 {
		return usagef("--reuse-key needs certificate names (it changes their stored setting)")
	}
	global, err := o.hooks.hooks()
	if err != nil {
		return err
	}
	if o.webhook, err = o.g.webhookURL(o.webhook, o.hookURL); err != nil {
		return err
	}
	notify, err := o.notify.resolve(o.g)
	if err != nil {
		return err
	}
	db, err := o.g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer closeStore(db, o.g.logger)
	for _, n := range names {
		if _, err := db.Get(cmd.Context(), n); err != nil {
			return err
		}
	}
	svc, err := o.g.service(db, serviceOptions{workers: o.workers, hooks: global, webhook: o.webhook, notify: notify,
		maxOrdersPerSecond: o.maxOrdersPerSecond, maxConcurrentOrders: o.maxConcurrentOrders})
	if err != nil {
		return err
	}
	defer svc.close(cmd.Context())
	if setReuse {
		for _, n := range names {
			if _, err := svc.Configure(cmd.Context(), n, renew.Settings{ReuseKey: &o.reuseKey}); err != nil {
				return err
			}
		}
	}
	stop := o.g.newProgress(cmd.ErrOrStderr(), "renew", len(names)).attach(svc.Service)
	rs, err := svc.RenewMany(cmd.Context(), names, o.force)
	stop()
	if err != nil {
		return err
	}
	if err := printResults(cmd.OutOrStdout(), o.g, rs, true); err != nil {
		return err
	}
	waitForOthers(cmd.Context())
	return resultsError(rs, "renewal")
}
