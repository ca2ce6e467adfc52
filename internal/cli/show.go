package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
	ListEntry
	Email          string          `json:"email"`
	Profile        string          `json:"profile"`
	PreferredChain string          `json:"preferred_chain"`
	ChallengeInfo  store.Challenge `json:"challenge_settings"`
	// Key is where the private key is: "new" (a new key at each renewal),
	// "reused" (kept across renewals, --reuse-key) or "csr" (held
	// elsewhere: ordered with the user's CSR).
	Key         string         `json:"key"`
	ARI         store.ARIState `json:"ari"`
	VersionList []versionJSON  `json:"version_list"`
}

// NewCmdShow returns `certctl show`.
func NewCmdShow(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one certificate's settings, state and stored versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, db, err := g.getCert(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeStore(db, g.logger)
			now := g.deps.Now()
			j := showJSON{ListEntry: toJSON(c, now), Email: c.Email, Profile: c.Profile,
				PreferredChain: c.PreferredChain, ChallengeInfo: c.Challenge, ARI: c.ARI, Key: keyMode(c)}
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
			fmt.Fprintf(w, "Key:            %s\n", keyModeText[j.Key])
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

// keyMode is the "key" field of show's JSON for c.
func keyMode(c *store.Certificate) string {
	switch {
	case len(c.CSR) > 0:
		return "csr"
	case c.ReuseKey:
		return "reused"
	}
	return "new"
}

var keyModeText = map[string]string{
	"csr":    "held elsewhere (CSR)",
	"reused": "kept across renewals (--reuse-key)",
	"new":    "new at each renewal",
}

func ptrTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// getCert opens the store and reads one certificate. The caller closes the
// store it returns (it is closed already when getCert fails).
func (g *globals) getCert(cmd *cobra.Command, name string) (*store.Certificate, store.Backend, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	db, err := g.openStore(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	c, err := db.Get(cmd.Context(), name)
	if err != nil {
		closeStore(db, g.logger)
		return nil, nil, err
	}
	return c, db, nil
}

// closeStore closes db, logging a failure (there is nothing else to do
// about it when a command ends).
func closeStore(db store.Backend, logger *slog.Logger) {
	if err := db.Close(); err != nil && logger != nil {
		logger.Warn("closing the store", "store", db.Location(), "err", err)
	}
}
