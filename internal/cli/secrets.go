package cli

import (
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/certctl/certctl/renew"
)

// Secrets given as flags are visible to every user of the machine (ps,
// /proc/PID/cmdline) and end up in unit files and shell histories. Each
// secret certctl takes can therefore also come from a file (--X-file) or an
// environment variable (CERTCTL_X), which systemd fills from
// EnvironmentFile= or LoadCredential=. The flag still works, with a warning,
// except for a webhook URL holding a password, which is refused.

// readSecret returns the secret given by the flag named flag (value), by the
// file named by the flag fileFlag (file, trailing newlines removed) or by
// the environment variable env, in that order of precedence; fromFlag says
// it came from the command line. Giving both flags is a usage error.
func (g *globals) readSecret(flag, value, fileFlag, file, env string) (secret string, fromFlag bool, err error) {
	switch {
	case value != "" && file != "":
		return "", false, usagef("give %s or %s, not both", flag, fileFlag)
	case value != "":
		return value, true, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, usagef("%s: %v", fileFlag, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", false, usagef("%s %s: the file is empty", fileFlag, file)
		}
		return s, false, nil
	}
	return g.deps.Getenv(env), false, nil
}

// warnVisible logs that a secret was given on the command line.
func (g *globals) warnVisible(flag, fileFlag, env string) {
	g.logger.Warn(flag+" is visible to other users of this machine (ps, /proc/PID/cmdline); give it with "+
		fileFlag+" FILE or the "+env+" environment variable", "flag", flag)
}

// webhookURL resolves --webhook, --webhook-file and CERTCTL_WEBHOOK and
// checks the URL: "" or an absolute http(s) URL. A URL with a password on
// the command line is refused; one with a path or query (where chat services
// put their token) is accepted with a warning.
func (g *globals) webhookURL(value, file string) (string, error) {
	u, fromFlag, err := g.readSecret("--webhook", value, "--webhook-file", file, "CERTCTL_WEBHOOK")
	if err != nil || u == "" {
		return "", err
	}
	if err := checkWebhook(u); err != nil {
		return "", err
	}
	if fromFlag {
		if p, err := url.Parse(u); err == nil {
			if _, ok := p.User.Password(); ok {
				return "", usagef("--webhook %s: the URL holds a password, which the command line shows to every user; "+
					"give it with --webhook-file FILE or CERTCTL_WEBHOOK", renew.RedactURL(u))
			}
		}
		if strings.HasSuffix(renew.RedactURL(u), "/…") {
			g.warnVisible("--webhook", "--webhook-file", "CERTCTL_WEBHOOK")
		}
	}
	return u, nil
}

// addWebhookFlags adds --webhook and --webhook-file.
func addWebhookFlags(f *pflag.FlagSet, value, file *string, usage string) {
	f.StringVar(value, "webhook", "", usage+" (env CERTCTL_WEBHOOK; visible to other users: prefer --webhook-file)")
	f.StringVar(file, "webhook-file", "", "file holding the --webhook URL")
}

// eabFlags are the external account binding options of issue and account
// register.
type eabFlags struct{ kid, hmac, hmacFile string }

func (e *eabFlags) add(f *pflag.FlagSet) {
	f.StringVar(&e.kid, "eab-kid", "", "external account binding key ID (env CERTCTL_EAB_KID)")
	f.StringVar(&e.hmac, "eab-hmac", "", "external account binding HMAC key, base64url (env CERTCTL_EAB_HMAC; visible to other users: prefer --eab-hmac-file)")
	f.StringVar(&e.hmacFile, "eab-hmac-file", "", "file holding the external account binding HMAC key")
}

// resolve returns the key ID and HMAC key from the flags, the file and the
// environment; both or neither must be given.
func (e *eabFlags) resolve(g *globals) (kid, hmac string, err error) {
	hmac, fromFlag, err := g.readSecret("--eab-hmac", e.hmac, "--eab-hmac-file", e.hmacFile, "CERTCTL_EAB_HMAC")
	if err != nil {
		return "", "", err
	}
	kid = e.kid
	if kid == "" {
		kid = g.deps.Getenv("CERTCTL_EAB_KID")
	}
	if (kid == "") != (hmac == "") {
		return "", "", usagef("--eab-kid and --eab-hmac go together")
	}
	if fromFlag {
		g.warnVisible("--eab-hmac", "--eab-hmac-file", "CERTCTL_EAB_HMAC")
	}
	return kid, hmac, nil
}

// checkWebhook accepts "" or an absolute http(s) URL.
func checkWebhook(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("webhook %s: want an http(s) URL", renew.RedactURL(s))
	}
	return nil
}
