package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/store"
)

// NewCmdExport returns `certctl export`.
func NewCmdExport(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "export NAME --dir DIR",
		Short: "Write the active certificate as cert.pem, chain.pem, fullchain.pem and privkey.pem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usagef("--dir is required")
			}
			c, db, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeStore(db, g.logger)
			v := c.ActiveVersion()
			if v == nil {
				return fmt.Errorf("%s: %w", c.Name, store.ErrNoActiveVersion)
			}
			key, err := v.Key()
			if len(c.CSR) > 0 && errors.Is(err, store.ErrNoKey) {
				// Ordered with the user's CSR: the key is theirs.
				if _, err := export.WriteCertDir(dir, v.CertPEM, v.ChainPEM); err != nil {
					return fmt.Errorf("%s: exporting: %w", c.Name, err)
				}
				return g.report(cmd.OutOrStdout(), map[string]string{"name": c.Name, "serial": v.Serial, "dir": dir},
					"Exported %s (serial %s) to %s without privkey.pem: the key is held elsewhere (CSR)", c.Name, v.Serial, dir)
			}
			if err != nil {
				return fmt.Errorf("%s: exporting: %w", c.Name, err)
			}
			if _, err := export.WriteDir(dir, v.CertPEM, v.ChainPEM, key); err != nil {
				return fmt.Errorf("%s: exporting: %w", c.Name, err)
			}
			return g.report(cmd.OutOrStdout(), map[string]string{"name": c.Name, "serial": v.Serial, "dir": dir},
				"Exported %s (serial %s) to %s", c.Name, v.Serial, dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the PEM files to (created 0700 if missing)")
	return cmd
}
