package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/store"
)

type storeCopyOptions struct {
	g        *globals
	from, to string
	force    bool
}

// storeCopyJSON is the JSON result of `certctl store copy`.
type storeCopyJSON struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Certificates int    `json:"certificates"`
	Versions     int    `json:"versions"`
	Accounts     int    `json:"accounts"`
	Overwritten  int    `json:"overwritten"`
	Kept         int    `json:"kept"`
	Verified     bool   `json:"verified"`
}

// NewCmdStoreCopy returns `certctl store copy`.
func NewCmdStoreCopy(g *globals) *cobra.Command {
	o := &storeCopyOptions{g: g}
	cmd := &cobra.Command{
		Use:   "copy --from SRC --to DST",
		Short: "Copy every certificate (all versions, ARI and renewal state) and account to another store",
		Long: "Copy every certificate with all its versions, its ARI and renewal state, and every account,\n" +
			"from the store SRC to the store DST (each a file or an etcd URL, in either direction), then\n" +
			"read the copy back and compare it with the source. A destination that holds certificates or\n" +
			"accounts is refused unless --force is given; with --force the records copied replace theirs\n" +
			"and its other records are kept. The source is only read. --store is not used.",
		Example: "  certctl store copy --from /var/lib/certctl/certctl.db --to etcds://10.0.0.1:2379,10.0.0.2:2379/certctl",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runStoreCopy(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the store to copy from: a file or a store URL")
	f.StringVar(&o.to, "to", "", "the store to copy to: a file or a store URL (a file is created if missing)")
	f.BoolVar(&o.force, "force", false, "copy into a destination that is not empty, replacing its records of the same names")
	return cmd
}

func runStoreCopy(cmd *cobra.Command, o *storeCopyOptions) error {
	if o.from == "" || o.to == "" {
		return usagef("store copy: --from and --to are both required")
	}
	ctx := cmd.Context()

	// Read the whole source before the destination is opened (and, for a
	// file, created): a source that cannot be read leaves nothing behind.
	src, err := o.openSource(ctx)
	if err != nil {
		return err
	}
	defer closeStore(src, o.g.logger)
	certs, err := src.List(ctx)
	if err != nil {
		return fmt.Errorf("store copy: reading %s: %w", src.Location(), err)
	}
	accts, err := src.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("store copy: reading %s: %w", src.Location(), err)
	}

	dst, err := o.g.openURL(ctx, o.to)
	if err != nil {
		return err
	}
	defer closeStore(dst, o.g.logger)
	if dst.Location() == src.Location() {
		return refusef("store copy: --from and --to are the same store %s", src.Location())
	}
	// The errors below name their store themselves.
	o.g.storeLoc = ""
	existing, err := dst.Revisions(ctx)
	if err != nil {
		return fmt.Errorf("store copy: reading %s: %w", dst.Location(), err)
	}
	dstAccts, err := dst.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("store copy: reading %s: %w", dst.Location(), err)
	}
	if (len(existing) > 0 || len(dstAccts) > 0) && !o.force {
		return refusef("store copy: %s is not empty (%d certificates, %d accounts); nothing copied; add --force to replace its records of the same names",
			dst.Location(), len(existing), len(dstAccts))
	}

	res := storeCopyJSON{From: src.Location(), To: dst.Location()}
	for _, c := range certs {
		rec := c.Clone()
		rec.Revision = existing[c.Name] // 0: a new record
		if err := dst.Put(ctx, rec); err != nil {
			return fmt.Errorf("store copy: writing %s to %s: %w (%d of %d certificates copied; run again with --force)",
				c.Name, dst.Location(), err, res.Certificates, len(certs))
		}
		if existing[c.Name] != 0 {
			res.Overwritten++
		}
		res.Certificates++
		res.Versions += len(c.Versions)
	}
	for _, a := range accts {
		rec := *a
		if err := dst.PutAccount(ctx, &rec); err != nil {
			return fmt.Errorf("store copy: writing account %s (%q) to %s: %w (run again with --force)", a.Directory, a.Email, dst.Location(), err)
		}
		res.Accounts++
	}
	for name := range existing {
		if !hasCert(certs, name) {
			res.Kept++
		}
	}

	if err := verifyCopy(ctx, dst, certs, accts); err != nil {
		return fmt.Errorf("store copy: verifying %s: %w", dst.Location(), err)
	}
	res.Verified = true
	return o.g.report(cmd.OutOrStdout(), res,
		"Copied %d certificates (%d versions) and %d accounts from %s to %s; verified (%d replaced, %d other certificates kept)",
		res.Certificates, res.Versions, res.Accounts, res.From, res.To, res.Overwritten, res.Kept)
}

// openSource opens --from for reading only: a missing file is not created.
func (o *storeCopyOptions) openSource(ctx context.Context) (store.Backend, error) {
	opts, err := o.g.storeOptions(o.from)
	if err != nil {
		return nil, err
	}
	opts.ReadOnly = true
	o.g.storeLoc = redactURL(o.from)
	src, err := store.OpenURL(ctx, o.from, opts)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, refusef("store copy: --from %s: no store there; nothing copied", o.from)
	case err != nil:
		return nil, fmt.Errorf("store copy: --from: %w", err)
	}
	return src, nil
}

func hasCert(certs []*store.Certificate, name string) bool {
	for _, c := range certs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// verifyCopy reads every copied record back from dst and compares it with
// the source's. The revision and the time of the last write are the
// destination's own and are not compared.
func verifyCopy(ctx context.Context, dst store.Store, certs []*store.Certificate, accts []*store.Account) error {
	for _, want := range certs {
		got, err := dst.Get(ctx, want.Name)
		if err != nil {
			return err
		}
		if !sameJSON(normalized(want), normalized(got)) {
			return fmt.Errorf("certificate %s differs from the source after writing", want.Name)
		}
	}
	for _, want := range accts {
		got, err := dst.GetAccount(ctx, want.Directory, want.Email)
		if err != nil {
			return err
		}
		if !sameJSON(want, got) {
			return fmt.Errorf("account %s (%q) differs from the source after writing", want.Directory, want.Email)
		}
	}
	return nil
}

// normalized is c without what a copy does not keep: its revision and the
// time of its last write.
func normalized(c *store.Certificate) *store.Certificate {
	n := c.Clone()
	n.Revision, n.Updated = 0, time.Time{}
	return n
}

// sameJSON reports whether a and b encode to the same JSON, which covers
// every stored field, keys included.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
