package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// versionJSON describes one stored version (never its key).
type versionJSON struct {
	Seq       int        `json:"seq"`
	Active    bool       `json:"active"`
	Serial    string     `json:"serial"`
	NotBefore *time.Time `json:"not_before"`
	NotAfter  *time.Time `json:"not_after"`
	Issued    *time.Time `json:"issued"`
	Revoked   bool       `json:"revoked"`
	Replaces  string     `json:"replaces,omitempty"`
}

// showJSON is the JSON schema of `certctl show`: the list fields plus the
// settings and versions.
type showJSON struct {
	certJSON
	Email          string          `json:"email"`
	Profile        string          `json:"profile"`
	PreferredChain string          `json:"preferred_chain"`
	ChallengeInfo  store.Challenge `json:"challenge_settings"`
	ARI            store.ARIState  `json:"ari"`
	VersionList    []versionJSON   `json:"version_list"`
}

// NewCmdShow returns `certctl show`.
func NewCmdShow(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one certificate's settings, state and stored versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			now := g.deps.Now()
			svc := &renew.Service{Now: g.deps.Now}
			j := showJSON{certJSON: toJSON(c, svc, now), Email: c.Email, Profile: c.Profile,
				PreferredChain: c.PreferredChain, ChallengeInfo: c.Challenge, ARI: c.ARI}
			for _, v := range c.Versions {
				j.VersionList = append(j.VersionList, versionJSON{Seq: v.Seq, Active: v.Seq == c.Active, Serial: v.Serial,
					NotBefore: timePtr(v.NotBefore), NotAfter: timePtr(v.NotAfter), Issued: timePtr(v.Issued),
					Revoked: v.Revoked, Replaces: v.Replaces})
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, j)
			}
			fmt.Fprintf(w, "Name:           %s\nDomains:        %s\nStatus:         %s\n", j.Name, strings.Join(j.Domains, ", "), j.Status)
			fmt.Fprintf(w, "Serial:         %s\nNot before:     %s\nNot after:      %s\n", j.Serial, ptrTime(j.NotBefore), ptrTime(j.NotAfter))
			fmt.Fprintf(w, "Next renewal:   %s (%s)\n", ptrTime(j.NextRenewal), j.RenewalReason)
			if j.LastError != "" {
				fmt.Fprintf(w, "Last error:     %s (%d attempts)\n", j.LastError, j.Attempts)
			}
			fmt.Fprintf(w, "Key type:       %s\nChallenge:      %s\nDirectory:      %s\nEmail:          %s\n", j.KeyType, j.Challenge, j.Directory, j.Email)
			if c.ARI.WindowStart.IsZero() {
				fmt.Fprintf(w, "ARI window:     -\n")
			} else {
				fmt.Fprintf(w, "ARI window:     %s to %s\n", fmtTime(c.ARI.WindowStart), fmtTime(c.ARI.WindowEnd))
			}
			fmt.Fprintf(w, "Versions:\n")
			for _, v := range j.VersionList {
				mark := " "
				if v.Active {
					mark = "*"
				}
				rev := ""
				if v.Revoked {
					rev = " revoked"
				}
				fmt.Fprintf(w, "  %s %d  %s  %s .. %s%s\n", mark, v.Seq, v.Serial, ptrTime(v.NotBefore), ptrTime(v.NotAfter), rev)
			}
			return nil
		},
	}
}

func ptrTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// getCert opens the store and reads one certificate.
func (g *globals) getCert(cmd *cobra.Command, name string) (*store.Certificate, *store.DB, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	db, err := g.openStore()
	if err != nil {
		return nil, nil, err
	}
	c, err := db.Get(cmd.Context(), name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, db, nil
}

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
			if _, err := export.WriteDir(dir, v.CertPEM, v.ChainPEM, v.KeyPEM); err != nil {
				return fmt.Errorf("%s: exporting: %w", c.Name, err)
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

// NewCmdRevoke returns `certctl revoke`.
func NewCmdRevoke(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke the active certificate at the CA (it is then renewed on the next run)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := parseReason(reason)
			if err != nil {
				return err
			}
			_, db, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			svc, err := g.service(db)
			if err != nil {
				return err
			}
			v, err := svc.Revoke(cmd.Context(), args[0], code)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"name": args[0], "serial": v.Serial, "revoked": true, "reason": code})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s (serial %s, reason %d)\n", args[0], v.Serial, code)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "reason: unspecified, keyCompromise, superseded, cessationOfOperation (or its RFC 5280 code)")
	return cmd
}

func parseReason(s string) (int, error) {
	for k, v := range acme.RevocationReasons {
		if strings.EqualFold(k, s) {
			return v, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil {
		for _, v := range acme.RevocationReasons {
			if v == n {
				return n, nil
			}
		}
	}
	return 0, usagef("--reason %q: want unspecified, keyCompromise, superseded or cessationOfOperation", s)
}

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
			svc := &renew.Service{Store: db}
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

// NewCmdRollback returns `certctl rollback`.
func NewCmdRollback(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NAME",
		Short: "Re-activate the previous valid version of a certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			svc := &renew.Service{Store: db, Now: g.deps.Now, Logger: g.logger}
			c, err := svc.Rollback(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			// The rolled-back version goes to the file bindings and deploy
			// hooks like a renewed one.
			deployErr := svc.Deploy(cmd.Context(), c.Name)
			v := c.ActiveVersion()
			if g.json() {
				err = writeJSON(cmd.OutOrStdout(), map[string]any{"name": c.Name, "serial": v.Serial, "version": v.Seq})
			} else {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Rolled back %s to version %d (serial %s, expires %s)\n", c.Name, v.Seq, v.Serial, fmtTime(v.NotAfter))
			}
			if err != nil {
				return err
			}
			return deployErr
		},
	}
}

// NewCmdAccount returns `certctl account` with list and register.
func NewCmdAccount(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "List or register ACME accounts"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the ACME accounts in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := g.openStore()
			if err != nil {
				return err
			}
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
	var kid, hmac string
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register an account at --directory for --email (needs --agree-tos)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkEmail(g.email); err != nil {
				return err
			}
			if !agree {
				return acme.ErrTOSNotAgreed
			}
			dir, err := g.directoryURL()
			if err != nil {
				return err
			}
			db, err := g.openStore()
			if err != nil {
				return err
			}
			svc, err := g.service(db)
			if err != nil {
				return err
			}
			svc.AgreeTOS, svc.EABKeyID, svc.EABHMAC = true, kid, hmac
			a, err := svc.Register(cmd.Context(), dir, g.email)
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"directory": a.Directory, "email": a.Email, "uri": a.URI})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Account %s at %s: %s\n", orDash(a.Email), a.Directory, a.URI)
			return err
		},
	}
	reg.Flags().BoolVar(&agree, "agree-tos", false, "agree to the CA's terms of service")
	reg.Flags().StringVar(&kid, "eab-kid", "", "external account binding key ID")
	reg.Flags().StringVar(&hmac, "eab-hmac", "", "external account binding HMAC key (base64url)")
	cmd.AddCommand(reg)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
