package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
)

// NewCmdAccount returns `certctl account` with list and register.
func NewCmdAccount(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "List or register ACME accounts"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the ACME accounts in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer closeStore(db, g.logger)
			accts, err := db.ListAccounts(cmd.Context())
			if err != nil {
				return err
			}
			type acctJSON struct {
				Directory string     `json:"directory"`
				Email     string     `json:"email"`
				URI       string     `json:"uri"`
				Created   *time.Time `json:"created"`
			}
			out := make([]acctJSON, 0, len(accts))
			for _, a := range accts {
				out = append(out, acctJSON{a.Directory, a.Email, a.URI, timePtr(a.Created)})
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			for _, a := range out {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\n", a.Directory, orDash(a.Email), a.URI)
			}
			return nil
		},
	})
	var agree bool
	var eab eabFlags
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register an account at --directory for --email (needs --agree-tos)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkEmail(g.email); err != nil {
				return err
			}
			kid, hmac, err := eab.resolve(g)
			if err != nil {
				return err
			}
			if !agree {
				return acme.ErrTOSNotAgreed
			}
			dir, err := g.directoryURL()
			if err != nil {
				return err
			}
			db, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer closeStore(db, g.logger)
			svc, err := g.service(db, serviceOptions{agreeTOS: true, eabKID: kid, eabHMAC: hmac})
			if err != nil {
				return err
			}
			a, err := svc.accounts.Register(cmd.Context(), dir, g.email)
			if err != nil {
				return err
			}
			return g.report(cmd.OutOrStdout(), map[string]string{"directory": a.Directory, "email": a.Email, "uri": a.URI},
				"Account %s at %s: %s", orDash(a.Email), a.Directory, a.URI)
		},
	}
	reg.Flags().BoolVar(&agree, "agree-tos", false, "agree to the CA's terms of service")
	eab.add(reg.Flags())
	cmd.AddCommand(reg)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
