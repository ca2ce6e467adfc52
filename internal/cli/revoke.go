package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
)

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
			svc, err := g.certService(cmd, args[0])
			if err != nil {
				return err
			}
			defer svc.close(cmd.Context())
			v, err := svc.Revoke(cmd.Context(), args[0], code)
			if err != nil {
				return err
			}
			return g.report(cmd.OutOrStdout(), map[string]any{"name": args[0], "serial": v.Serial, "revoked": true, "reason": code},
				"Revoked %s (serial %s, reason %d)", args[0], v.Serial, code)
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
