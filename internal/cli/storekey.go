package cli

import (
	"errors"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/store"
)

// credentialName is the systemd credential (LoadCredential=) that holds
// the store key; it is picked up from $CREDENTIALS_DIRECTORY when no key
// file is given.
const credentialName = store.SealKeyCredential

// storeKey reads the store key once: --store-key-file, else as
// store.SealKeyFromEnv does (CERTCTL_STORE_KEY_FILE, else the systemd
// credential when present); nil when none is given. A key file that is
// missing, unreadable, readable by other users or not a key is bad input
// (exit 2).
func (g *globals) storeKey() ([]byte, error) {
	if g.storeKeyRead {
		return g.storeKeyBytes, nil
	}
	var k []byte
	var err error
	if g.storeKeyFile != "" {
		k, err = store.ReadSealKeyFile(g.storeKeyFile)
	} else {
		k, err = store.SealKeyFromEnv(g.deps.Getenv)
	}
	if err != nil {
		return nil, keyFileError(err)
	}
	g.storeKeyBytes, g.storeKeyRead = k, true
	return k, nil
}

// readKeyFile reads a store key file, any failure as bad input.
func readKeyFile(p string) ([]byte, error) {
	k, err := store.ReadSealKeyFile(p)
	if err != nil {
		return nil, keyFileError(err)
	}
	return k, nil
}

// keyFileError is a key file's failure as bad input, in one line.
func keyFileError(err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return refusef("store key %s: no such file (create one with certctl store keygen %s)", pe.Path, pe.Path)
	}
	return refusef("%s", oneLine(err))
}

// NewCmdStoreKeygen returns `certctl store keygen`.
func NewCmdStoreKeygen(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Create a new store key file (32 random bytes in base64, mode 0600)",
		Long: "Create FILE holding a new random store key (32 bytes, base64, mode 0600). An existing\n" +
			"file is never replaced. Give it with --store-key-file, CERTCTL_STORE_KEY_FILE or the\n" +
			"systemd credential certctl-store-key, then seal the store with certctl store seal.\n" +
			"Keep a copy apart from the store: without it, sealed keys cannot be recovered.",
		Example: "  certctl store keygen /etc/certctl/store.key\n  certctl --store-key-file /etc/certctl/store.key store seal",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.GenerateSealKeyFile(args[0]); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return refusef("store key %s: the file exists; it was left as it is", args[0])
				}
				return err
			}
			return g.report(cmd.OutOrStdout(), map[string]string{"file": args[0]}, "Wrote a new store key to %s (mode 0600)", args[0])
		},
	}
}

// resealJSON is the JSON result of `certctl store seal`, `unseal` and
// `rekey`.
type resealJSON struct {
	Store        string `json:"store"`
	Action       string `json:"action"`
	Certificates int    `json:"certificates"`
	Accounts     int    `json:"accounts"`
	Keys         int    `json:"keys"`
	Unchanged    int    `json:"unchanged"`
}

// NewCmdStoreSeal returns `certctl store seal`.
func NewCmdStoreSeal(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "seal",
		Short: "Seal every private key of the store with the store key",
		Long: "Rewrite every private key of the store (every version, every account) sealed with the\n" +
			"store key (--store-key-file, CERTCTL_STORE_KEY_FILE or the systemd credential\n" +
			"certctl-store-key). Each record is rewritten atomically; a file store in one transaction.\n" +
			"Interrupted, run it again: no record is ever lost or half converted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.storeKey()
			if err != nil {
				return err
			}
			if key == nil {
				return refusef("store seal: give the store key with --store-key-file FILE (create one with certctl store keygen FILE)")
			}
			return g.reseal(cmd, "sealed", &store.Options{SealKey: key})
		},
	}
}

// NewCmdStoreUnseal returns `certctl store unseal`.
func NewCmdStoreUnseal(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unseal",
		Short: "Write every private key of the store in plaintext again",
		Long: "Open every sealed private key of the store with the store key and write it back in\n" +
			"plaintext. Each record is rewritten atomically; run it again if it was interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.storeKey()
			if err != nil {
				return err
			}
			if key == nil {
				return refusef("store unseal: give the store key that sealed it with --store-key-file FILE")
			}
			return g.reseal(cmd, "unsealed", &store.Options{UnsealKeys: [][]byte{key}})
		},
	}
}

// NewCmdStoreRekey returns `certctl store rekey`.
func NewCmdStoreRekey(g *globals) *cobra.Command {
	var newFile string
	cmd := &cobra.Command{
		Use:   "rekey --new-key-file FILE",
		Short: "Seal every private key of the store with a new store key",
		Long: "Open every private key with the current store key (--store-key-file...) and seal it\n" +
			"with the key in --new-key-file. Keys still in plaintext are sealed too. Interrupted, run\n" +
			"it again with the same two keys: each record is in its old form or its new one.",
		Example: "  certctl store keygen /etc/certctl/store.key.new\n" +
			"  certctl --store-key-file /etc/certctl/store.key store rekey --new-key-file /etc/certctl/store.key.new",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if newFile == "" {
				return usagef("store rekey: --new-key-file is required")
			}
			old, err := g.storeKey()
			if err != nil {
				return err
			}
			if old == nil {
				return refusef("store rekey: give the current store key with --store-key-file FILE")
			}
			nk, err := readKeyFile(newFile)
			if err != nil {
				return err
			}
			return g.reseal(cmd, "rekeyed", &store.Options{SealKey: nk, UnsealKeys: [][]byte{old}})
		},
	}
	cmd.Flags().StringVar(&newFile, "new-key-file", "", "file holding the new store key")
	return cmd
}

// reseal converts the store with the keys of keys (see store.Reseal).
func (g *globals) reseal(cmd *cobra.Command, action string, keys *store.Options) error {
	ctx := cmd.Context()
	g.keyOverride = keys
	db, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore(db, g.logger)
	st, err := store.Reseal(ctx, db)
	if err != nil {
		return err
	}
	res := resealJSON{Store: db.Location(), Action: action, Certificates: st.Certificates, Accounts: st.Accounts, Keys: st.Keys, Unchanged: st.Unchanged}
	return g.report(cmd.OutOrStdout(), res, "Store %s %s: %d certificates and %d accounts rewritten (%d private keys), %d records already so",
		res.Store, action, res.Certificates, res.Accounts, res.Keys, res.Unchanged)
}

// applyStoreKey puts the store key (or the keys of a conversion) into
// opts.
func (g *globals) applyStoreKey(opts *store.Options) error {
	if g.keyOverride != nil {
		opts.SealKey, opts.UnsealKeys = g.keyOverride.SealKey, g.keyOverride.UnsealKeys
		return nil
	}
	k, err := g.storeKey()
	if err != nil {
		return err
	}
	opts.SealKey = k
	return nil
}
