package cli

import "github.com/spf13/cobra"

// NewCmdStore returns `certctl store`, the group of commands that act on a
// whole store.
func NewCmdStore(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Act on whole stores (copy between files and etcd, seal private keys at rest)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdStoreCopy(g), NewCmdStoreKeygen(g), NewCmdStoreSeal(g), NewCmdStoreUnseal(g), NewCmdStoreRekey(g))
	return cmd
}
