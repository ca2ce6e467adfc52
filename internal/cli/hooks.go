package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// hookFlags are the hook options of issue, configure, renew and daemon.
type hookFlags struct {
	pre, deploy, post, failure string
}

func (h *hookFlags) add(f *pflag.FlagSet, scope string) {
	f.StringVar(&h.pre, "pre-hook", "", "command run before each renewal of "+scope+" (no shell; see README for its CERTCTL_* variables)")
	f.StringVar(&h.deploy, "deploy-hook", "", "command run after each renewal of "+scope+" became active")
	f.StringVar(&h.post, "post-hook", "", "command run after each renewal attempt of "+scope)
	f.StringVar(&h.failure, "failure-hook", "", "command run after each failed renewal of "+scope)
}

// hooks parses the flags into argv lists.
func (h *hookFlags) hooks() (store.Hooks, error) {
	var out store.Hooks
	for _, x := range []struct {
		flag, val string
		dst       *[]string
	}{{"--pre-hook", h.pre, &out.Pre}, {"--deploy-hook", h.deploy, &out.Deploy},
		{"--post-hook", h.post, &out.Post}, {"--failure-hook", h.failure, &out.Failure}} {
		if x.val == "" {
			continue
		}
		argv, err := splitCommand(x.val)
		if err == nil {
			err = renew.CheckHook(argv)
		}
		if err != nil {
			return out, usagef("%s: %v", x.flag, err)
		}
		*x.dst = argv
	}
	return out, nil
}

// bindingFlags are the file binding options of issue and configure.
type bindingFlags struct {
	dir, pfx, pfxPassFile, pfxPassEnv, reload string
	pfxLegacy                                 bool
}

func (b *bindingFlags) add(f *pflag.FlagSet) {
	f.StringVar(&b.dir, "export", "", "after every renewal, write DIR/NAME/{cert,chain,fullchain,privkey}.pem")
	f.StringVar(&b.pfx, "pfx", "", "after every renewal, write a PKCS#12 (.pfx) file here")
	f.StringVar(&b.pfxPassFile, "pfx-password-file", "", "file holding the PFX password")
	f.StringVar(&b.pfxPassEnv, "pfx-password-env", "", "environment variable holding the PFX password")
	f.BoolVar(&b.pfxLegacy, "pfx-legacy", false, "write the PFX with the older encryption (3DES, SHA-1) that Windows Server 2016 and earlier import")
	f.StringVar(&b.reload, "reload-cmd", "", "command run after the files are written (e.g. 'systemctl reload nginx'; no shell)")
}

// binding returns the file binding the flags describe, or nil for none.
func (b *bindingFlags) binding() (*store.FileBinding, error) {
	if (b.pfxPassFile != "" || b.pfxPassEnv != "" || b.pfxLegacy) && b.pfx == "" {
		return nil, usagef("--pfx-password-file, --pfx-password-env and --pfx-legacy need --pfx")
	}
	if b.dir == "" && b.pfx == "" && b.reload == "" {
		return nil, nil
	}
	fb := &store.FileBinding{Dir: b.dir, PFX: b.pfx, PFXPasswordFile: b.pfxPassFile, PFXPasswordEnv: b.pfxPassEnv,
		PFXLegacy: b.pfxLegacy}
	if b.pfxPassFile != "" && b.pfxPassEnv != "" {
		return nil, usagef("give --pfx-password-file or --pfx-password-env, not both")
	}
	if b.reload != "" {
		argv, err := splitCommand(b.reload)
		if err == nil {
			err = renew.CheckHook(argv)
		}
		if err != nil {
			return nil, usagef("--reload-cmd: %v", err)
		}
		fb.ReloadCmd = argv
	}
	return fb, nil
}

// splitCommand splits a command line into words like a POSIX shell does for
// quoting ('...', "...", backslash) and nothing else: no variables, globs,
// pipes or redirections. Write `sh -c '...'` to get a shell. It works on
// bytes (every special character is ASCII), so a word that is not valid
// UTF-8, such as a Latin-1 file name, is kept as given.
func splitCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote byte
		esc   bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			cur.WriteByte(c)
			esc = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch c {
			case '"':
				quote = 0
			case '\\':
				esc = true
			default:
				cur.WriteByte(c)
			}
		case c == '\\':
			esc, inArg = true, true
		case c == '\'' || c == '"':
			quote, inArg = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return args, nil
}
