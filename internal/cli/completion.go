package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/store"
)

// Shell completion: cobra's own `completion bash|zsh|fish|powershell`
// command writes the scripts; the scripts call the hidden `__complete`
// command, which asks the functions below for certificate names.

// completionTimeout bounds how long completing names may take (a store that
// is busy or an etcd that does not answer gives no names, not a hung shell).
const completionTimeout = 3 * time.Second

// nameArgCommands are the commands whose arguments are certificate names,
// and whether they take several.
var nameArgCommands = map[string]bool{
	"show": false, "export": false, "revoke": false, "remove": false, "rollback": false,
	"configure": false, "renew": true,
}

// nameFlagCommands are the commands whose --name flag is a certificate name.
var nameFlagCommands = []string{"issue"}

// addCompletion sets up shell completion on root: the default `completion`
// command (added now, so that man pages and help list it) and completion of
// certificate names for the commands that take them.
func (g *globals) addCompletion(root *cobra.Command) {
	// cobra's completion commands write to the root's output as it is
	// when they are made.
	if g.deps.Stdout != nil {
		root.SetOut(g.deps.Stdout)
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if multi, ok := nameArgCommands[c.Name()]; ok {
			c.ValidArgsFunction = g.completeNames(multi)
		}
		if slices.Contains(nameFlagCommands, c.Name()) && c.Flags().Lookup("name") != nil {
			_ = c.RegisterFlagCompletionFunc("name", g.completeNames(true))
		}
	}
}

// completeNames returns a completion function offering the names of the
// stored certificates that start with what was typed, leaving out those
// already given. With multi false it offers nothing once a name was given.
// It never fails noisily: on any error it offers nothing, and never file
// names.
func (g *globals) completeNames(multi bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if !multi && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		var out []cobra.Completion
		for _, n := range g.storedNames(ctx) {
			if strings.HasPrefix(n, toComplete) && !slices.Contains(args, n) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// storedNames lists the names of the certificates in the store of --store,
// opened read-only with a short lock timeout and no logging; any failure
// gives none. A store that does not exist is not created.
func (g *globals) storedNames(ctx context.Context) (names []string) {
	defer func() {
		if recover() != nil {
			names = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	u := g.storeURL()
	if u == "" {
		u = store.DefaultPath()
	}
	saved := g.logger
	g.logger = slog.New(slog.DiscardHandler)
	defer func() { g.logger = saved }()
	opts, err := g.storeOptions(u)
	if err != nil {
		return nil
	}
	opts.ReadOnly = true
	opts.LockTimeout = time.Second
	if isEtcdURL(u) {
		opts.DialTimeout = time.Second
	}
	db, err := store.OpenURL(ctx, u, opts)
	if err != nil {
		return nil
	}
	defer func() { _ = db.Close() }()
	certs, err := db.List(ctx)
	if err != nil {
		return nil
	}
	for _, c := range certs {
		names = append(names, c.Name)
	}
	return names
}
