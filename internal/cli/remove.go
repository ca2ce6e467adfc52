package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// NewCmdRemove returns `certctl remove`.
func NewCmdRemove(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop managing a certificate and delete it from the store (it is not revoked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			svc, err := g.service(db, serviceOptions{})
			if err != nil {
				return err
			}
			if err := svc.Remove(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"name": args[0], "removed": true})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed %s\n", args[0])
			return err
		},
	}
}
