package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// ListEntry is one element of the stable JSON schema of `certctl list`
// (documented in README.md). Fields are only ever added, never renamed or
// removed; TestCLI_List_JSONSchema pins the names.
type ListEntry struct {
	Name          string     `json:"name"`
	Domains       []string   `json:"domains"`
	Serial        string     `json:"serial"`
	NotBefore     *time.Time `json:"not_before"`
	NotAfter      *time.Time `json:"not_after"`
	NextRenewal   *time.Time `json:"next_renewal"`
	RenewalReason string     `json:"renewal_reason"`
	Status        string     `json:"status"`
	LastError     string     `json:"last_error"`
	Attempts      int        `json:"attempts"`
	KeyType       string     `json:"key_type"`
	Challenge     string     `json:"challenge"`
	Directory     string     `json:"directory"`
	Versions      int        `json:"versions"`
}

// toJSON describes c at now.
func toJSON(c *store.Certificate, now time.Time) ListEntry {
	d := renew.Policy{}.Decide(c, now)
	j := ListEntry{
		Name: c.Name, Domains: c.Domains, NextRenewal: timePtr(d.At), RenewalReason: d.Reason,
		Status: string(renew.StatusOf(c, d, now)), LastError: c.Renewal.LastError, Attempts: c.Renewal.Attempts,
		KeyType: c.KeyType, Challenge: c.Challenge.Type, Directory: c.Directory, Versions: len(c.Versions),
	}
	if j.LastError == "" && c.Renewal.DeployError != "" {
		j.LastError = "deploy: " + c.Renewal.DeployError
	}
	if j.Domains == nil {
		j.Domains = []string{}
	}
	if v := c.ActiveVersion(); v != nil {
		j.Serial, j.NotBefore, j.NotAfter = v.Serial, timePtr(v.NotBefore), timePtr(v.NotAfter)
	}
	return j
}

// NewCmdList returns `certctl list`.
func NewCmdList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List managed certificates, their expiry, next renewal and status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer closeStore(db, g.logger)
			certs, err := db.List(cmd.Context())
			if err != nil {
				return err
			}
			now := g.deps.Now()
			rows := make([]ListEntry, 0, len(certs))
			for _, c := range certs {
				rows = append(rows, toJSON(c, now))
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, rows)
			}
			if len(rows) == 0 {
				_, err := fmt.Fprintln(w, "No certificates. Get one with: certctl issue -d example.com --agree-tos")
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDOMAINS\tSERIAL\tNOT AFTER\tLEFT\tNEXT RENEWAL\tREASON\tSTATUS\tLAST ERROR")
			for _, r := range rows {
				left, notAfter := "-", "-"
				if r.NotAfter != nil {
					left = humanDuration(r.NotAfter.Sub(now))
					notAfter = fmtTime(*r.NotAfter)
				}
				next := "-"
				if r.NextRenewal != nil {
					next = fmtTime(*r.NextRenewal)
				}
				serial := r.Serial
				if len(serial) > 16 {
					serial = serial[:16] + "…"
				}
				lastErr := r.LastError
				if len(lastErr) > 60 {
					lastErr = lastErr[:60] + "…"
				}
				if lastErr == "" {
					lastErr = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Domains, ","), serial,
					notAfter, left, next, r.RenewalReason, r.Status, lastErr)
			}
			return tw.Flush()
		},
	}
}
