package cli

import "github.com/spf13/cobra"

// NewCmdRemove returns `certctl remove`.
func NewCmdRemove(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop managing a certificate and delete it from the store (it is not revoked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := g.certService(cmd, args[0])
			if err != nil {
				return err
			}
			defer svc.close(cmd.Context())
			if err := svc.Remove(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.report(cmd.OutOrStdout(), map[string]any{"name": args[0], "removed": true}, "Removed %s", args[0])
		},
	}
}
