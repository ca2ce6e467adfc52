package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/internal/fsx"
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
			c, _, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			v := c.ActiveVersion()
			if v == nil {
				return fmt.Errorf("%s: %w", c.Name, store.ErrNoActiveVersion)
			}
			if err := ExportPEM(dir, v); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"name": c.Name, "serial": v.Serial, "dir": dir})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Exported %s (serial %s) to %s\n", c.Name, v.Serial, dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the PEM files to (created 0700 if missing)")
	return cmd
}

// ExportPEM writes v into dir in the certbot-like layout, each file
// atomically; the private key is 0600.
func ExportPEM(dir string, v *store.Version) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("export %s: %w", dir, err)
	}
	full := append(append([]byte{}, v.CertPEM...), v.ChainPEM...)
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"cert.pem", v.CertPEM, 0o644},
		{"chain.pem", v.ChainPEM, 0o644},
		{"fullchain.pem", full, 0o644},
		{"privkey.pem", v.KeyPEM, 0o600},
	}
	for _, f := range files {
		if err := fsx.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}
