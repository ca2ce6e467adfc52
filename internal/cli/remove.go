package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/renew"
)

// NewCmdRemove returns `certctl remove`.
func NewCmdRemove(g *globals) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop managing a certificate and delete it from the store, with its exported files (it is not revoked)",
		Long: "Delete a certificate from the store, and the files its file bindings exported (privkey.pem and\n" +
			"the PFX first, then the certificates; DIR/NAME once empty), saying which. --keep-files leaves\n" +
			"them in place, and lists them. The certificate is not revoked: see certctl revoke.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := g.certService(cmd, args[0])
			if err != nil {
				return err
			}
			defer svc.close(cmd.Context())
			out, err := svc.Remove(cmd.Context(), args[0], renew.RemoveOptions{KeepFiles: keep})
			if err != nil {
				if len(out.Files) > 0 {
					err = fmt.Errorf("%w (already deleted: %s; the certificate is still in the store)",
						err, strings.Join(out.Files, ", "))
				}
				return err
			}
			deleted, kept := out.Files, out.Kept
			if deleted == nil {
				deleted = []string{}
			}
			if kept == nil {
				kept = []string{}
			}
			text := "Removed " + args[0]
			if len(out.Files) > 0 {
				text += "\nDeleted its exported files:\n  " + strings.Join(out.Files, "\n  ")
			}
			if len(out.Kept) > 0 {
				text += "\nKept its exported files (--keep-files; privkey.pem and PFX files hold its private key):\n  " +
					strings.Join(out.Kept, "\n  ")
			}
			return g.report(cmd.OutOrStdout(), map[string]any{"name": args[0], "removed": true,
				"deleted_files": deleted, "kept_files": kept}, "%s", text)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-files", false, "leave the files exported by its file bindings in place")
	return cmd
}
