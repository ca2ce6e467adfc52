package cli

import "github.com/spf13/cobra"

// NewCmdRollback returns `certctl rollback`.
func NewCmdRollback(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NAME",
		Short: "Re-activate the previous valid version of a certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := g.certService(cmd, args[0])
			if err != nil {
				return err
			}
			defer svc.close(cmd.Context())
			// Rollback also puts the restored version into its file
			// bindings; deployErr is that step's failure alone.
			c, deployErr := svc.Rollback(cmd.Context(), args[0])
			if c == nil {
				return deployErr
			}
			v := c.ActiveVersion()
			if err := g.report(cmd.OutOrStdout(), map[string]any{"name": c.Name, "serial": v.Serial, "version": v.Seq},
				"Rolled back %s to version %d (serial %s, expires %s)", c.Name, v.Seq, v.Serial, fmtTime(v.NotAfter)); err != nil {
				return err
			}
			return deployErr
		},
	}
}
