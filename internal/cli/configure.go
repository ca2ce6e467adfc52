package cli

import (
	"github.com/spf13/cobra"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

type configureOptions struct {
	g          *globals
	hooks      hookFlags
	files      bindingFlags
	noBindings bool
	clearHooks bool
	httpAddr   string
	deploy     bool
	reuseKey   bool
}

// NewCmdConfigure returns `certctl configure`.
func NewCmdConfigure(g *globals) *cobra.Command {
	o := &configureOptions{g: g}
	cmd := &cobra.Command{
		Use:   "configure NAME",
		Short: "Change a certificate's file bindings, hooks or HTTP-01 address",
		Long: "Change the settings used at every renewal of a certificate without renewing it. New file\n" +
			"bindings are written at once from the active version (and their reload command run).",
		Example: "  certctl configure example.com --export /etc/ssl/certctl --reload-cmd 'systemctl reload nginx'\n" +
			"  certctl configure example.com --pfx /srv/iis/example.pfx --pfx-password-env PFX_PASS\n" +
			"  certctl configure example.com --clear-hooks --deploy-hook '/usr/local/bin/notify-team'",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runConfigure(cmd, o, args[0]) },
	}
	f := cmd.Flags()
	o.files.add(f)
	o.hooks.add(f, "this certificate")
	f.BoolVar(&o.noBindings, "no-bindings", false, "remove every file binding")
	f.BoolVar(&o.clearHooks, "clear-hooks", false, "remove every hook (before adding the ones given)")
	f.StringVar(&o.httpAddr, "http-addr", "", "address of the built-in HTTP-01 responder")
	f.BoolVar(&o.deploy, "deploy", false, "also re-run file bindings and deploy hooks now")
	f.BoolVar(&o.reuseKey, "reuse-key", false, "keep the private key across renewals (--reuse-key=false: a new key each time)")
	return cmd
}

func runConfigure(cmd *cobra.Command, o *configureOptions, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	hooks, err := o.hooks.hooks()
	if err != nil {
		return err
	}
	fb, err := o.files.binding()
	if err != nil {
		return err
	}
	if fb != nil && o.noBindings {
		return usagef("--no-bindings cannot be combined with new bindings")
	}
	db, err := o.g.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer closeStore(db, o.g.logger)
	svc, err := o.g.service(db, serviceOptions{})
	if err != nil {
		return err
	}
	st := renew.Settings{ClearHooks: o.clearHooks, Hooks: hooks, HTTPAddr: o.httpAddr, Deploy: o.deploy}
	if cmd.Flags().Changed("reuse-key") {
		st.ReuseKey = &o.reuseKey
	}
	if o.noBindings {
		st.Bindings = []store.FileBinding{}
	}
	if fb != nil {
		st.Bindings = []store.FileBinding{*fb}
	}
	c, deployErr := svc.Configure(cmd.Context(), name, st)
	if c == nil {
		return deployErr
	}
	if err := o.g.report(cmd.OutOrStdout(), map[string]any{"name": name, "bindings": c.Bindings, "hooks": c.Hooks},
		"Configured %s: %d file binding(s), hooks pre=%q deploy=%q post=%q failure=%q", name,
		len(c.Bindings), c.Hooks.Pre, c.Hooks.Deploy, c.Hooks.Post, c.Hooks.Failure); err != nil {
		return err
	}
	return deployErr
}
