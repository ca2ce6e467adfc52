// Checks of the IIS scripts that can run without Windows: which certctl
// variables they read, whether the TLS policy script sets the seed's
// policy, and a lexical smoke test (quotes, brackets, ASCII). None of it
// runs PowerShell; see the README's IIS section for what was not run.
package iis_test

import (
	"crypto/tls"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/renew"
)

func readScript(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func scripts(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob("*.ps1")
	if err != nil || len(names) < 2 {
		t.Fatalf("scripts: %q, %v", names, err)
	}
	return names
}

// hookVariables are the names of the variables certctl sets for a hook.
func hookVariables() []string {
	var names []string
	for _, kv := range (renew.HookEnv{}).Environ() {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	return names
}

var (
	envRef  = regexp.MustCompile(`(?i)\$\{?env:(CERTCTL_\w*)`)
	anyName = regexp.MustCompile(`(?i)CERTCTL_\w*`)
)

// The scripts read only variables certctl sets (read from renew.HookEnv,
// so a renamed variable fails here), spelt exactly; deploy.ps1 reads every
// one it needs; every other CERTCTL_ name they mention (in messages and
// help) exists too.
func TestScripts_ReadOnlyVariablesCertctlSets(t *testing.T) {
	set := hookVariables()
	for _, name := range scripts(t) {
		src := readScript(t, name)
		var read []string
		for _, m := range envRef.FindAllStringSubmatch(src, -1) {
			if !slices.Contains(set, m[1]) {
				t.Errorf("%s reads $env:%s, which certctl does not set (it sets %s)", name, m[1], strings.Join(set, ", "))
			}
			if !slices.Contains(read, m[1]) {
				read = append(read, m[1])
			}
		}
		for _, m := range anyName.FindAllString(src, -1) {
			if !slices.Contains(set, m) && m != "CERTCTL_HOOK_ENV" {
				t.Errorf("%s mentions %s, which is no certctl variable", name, m)
			}
		}
		slices.Sort(read)
		var want []string
		switch name {
		case "deploy.ps1":
			want = []string{"CERTCTL_DOMAINS", "CERTCTL_EVENT", "CERTCTL_NAME", "CERTCTL_PFX_FILE",
				"CERTCTL_PFX_PASSWORD_ENV", "CERTCTL_PFX_PASSWORD_FILE", "CERTCTL_SERIAL"}
		case "tls-policy.ps1":
			want = nil // not a hook
		default:
			t.Errorf("%s: a script this test does not know", name)
		}
		if !slices.Equal(read, want) {
			t.Errorf("%s reads %q, want %q", name, read, want)
		}
	}
}

// tls-policy.ps1 sets the policy of certctl's Go servers
// (bindings.Intermediate): its TLS 1.2 suites are Intermediate's AES-GCM
// suites, all of them (SChannel has no ChaCha20 for TLS 1.2), its TLS 1.3
// suites Go's; it switches off everything below TLS 1.2; and it writes
// nothing unless -Apply is given.
func TestTLSPolicyScript_IsTheSeedPolicy(t *testing.T) {
	src := readScript(t, "tls-policy.ps1")
	var got12, got13 []string
	for _, m := range regexp.MustCompile(`'(TLS_\w+)'`).FindAllStringSubmatch(src, -1) {
		if strings.HasPrefix(m[1], "TLS_ECDHE_") || strings.Contains(m[1], "_WITH_") {
			got12 = append(got12, m[1])
		} else {
			got13 = append(got13, m[1])
		}
	}
	var want12, want13 []string
	for _, id := range bindings.New(nil).TLSConfig(bindings.Intermediate).CipherSuites {
		if n := tls.CipherSuiteName(id); !strings.Contains(n, "CHACHA20") {
			want12 = append(want12, n)
		}
	}
	for _, s := range tls.CipherSuites() {
		if slices.Equal(s.SupportedVersions, []uint16{tls.VersionTLS13}) {
			want13 = append(want13, s.Name)
		}
	}
	for _, l := range [][]string{got12, got13, want12, want13} {
		slices.Sort(l)
	}
	if !slices.Equal(got12, want12) {
		t.Errorf("TLS 1.2 suites %q, want bindings.Intermediate's AES-GCM suites %q", got12, want12)
	}
	if !slices.Equal(got13, want13) {
		t.Errorf("TLS 1.3 suites %q, want %q", got13, want13)
	}
	for _, bad := range []string{"CBC", "RC4", "3DES", "_SHA'", "NULL_"} {
		if strings.Contains(strings.Join(append(got12, got13...), "'")+"'", bad) {
			t.Errorf("a weak suite (%s) is listed", bad)
		}
	}
	off := regexp.MustCompile(`foreach \(\$p in @\(([^)]*)\)\) \{\s*\n[^\n]*'Enabled', 0\)`).FindStringSubmatch(src)
	on := regexp.MustCompile(`foreach \(\$p in @\(([^)]*)\)\) \{\s*\n[^\n]*'Enabled', 1\)`).FindStringSubmatch(src)
	if off == nil || on == nil || off[1] != `'SSL 2.0', 'SSL 3.0', 'TLS 1.0', 'TLS 1.1'` || on[1] != `'TLS 1.2', 'TLS 1.3'` {
		t.Errorf("protocols switched off %q, on %q", off, on)
	}
	// Registry writes happen in one place, under if ($Apply).
	if strings.Count(src, "SetValue(") != 1 || strings.Count(src, "CreateSubKey(") != 1 {
		t.Fatal("want exactly one CreateSubKey and one SetValue")
	}
	before := src[:strings.Index(src, "CreateSubKey(")]
	if last := before[strings.LastIndex(before, "if ("):]; !strings.HasPrefix(last, "if ($Apply) {") {
		t.Errorf("the registry write is not guarded by if ($Apply): %q", last[:min(len(last), 40)])
	}
	if !strings.Contains(src, "param([switch]$Apply)") || !strings.Contains(src, "Restart Windows") {
		t.Error("want a -Apply switch (dry run by default) and the reboot it needs said")
	}
}

// A lexical smoke test, not a parser: every string and block comment is
// closed, brackets balance outside them, the files are ASCII (Windows
// PowerShell 5.1 reads a file without a byte order mark as ANSI, so other
// UTF-8 would be mangled), and no "$name:" appears other than $env: (in a
// double-quoted string PowerShell reads "$name:" as a scope or drive).
func TestScripts_LexicalSmoke(t *testing.T) {
	scope := regexp.MustCompile(`\$(\w+):`)
	for _, name := range scripts(t) {
		src := readScript(t, name)
		for i, r := range src {
			if r > 126 || (r < 32 && r != '\n' && r != '\r' && r != '\t') {
				t.Errorf("%s: byte %d: %q is not printable ASCII", name, i, r)
				break
			}
		}
		for _, m := range scope.FindAllStringSubmatch(src, -1) {
			if !strings.EqualFold(m[1], "env") {
				t.Errorf("%s: %q reads as a scope or drive qualifier", name, m[0])
			}
		}
		if err := checkLexical(src); err != "" {
			t.Errorf("%s: %s", name, err)
		}
	}
}

// checkLexical skips comments and strings as PowerShell writes them
// ('...' with ” inside, "..." with ` escapes, # to the end of the line,
// <# ... #>) and checks that they end and that (), {} and [] balance.
func checkLexical(src string) string {
	var stack []byte
	line := 1
	pairs := map[byte]byte{')': '(', '}': '{', ']': '['}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
		case c == '<' && strings.HasPrefix(src[i:], "<#"):
			end := strings.Index(src[i:], "#>")
			if end < 0 {
				return "unterminated <# comment at line " + strconv.Itoa(line)
			}
			line += strings.Count(src[i:i+end], "\n")
			i += end + 1
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			line++
		case c == '\'':
			start := line
			for i++; ; i++ {
				if i >= len(src) {
					return "unterminated ' string from line " + strconv.Itoa(start)
				}
				if src[i] == '\n' {
					line++
				}
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case c == '"':
			start := line
			for i++; ; i++ {
				if i >= len(src) {
					return "unterminated \" string from line " + strconv.Itoa(start)
				}
				if src[i] == '\n' {
					line++
				}
				if src[i] == '`' {
					i++
					continue
				}
				if src[i] == '"' {
					break
				}
			}
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, c)
		case c == ')' || c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return "unbalanced " + string(c) + " at line " + strconv.Itoa(line)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack) + " at the end"
	}
	return ""
}

// web.config is well-formed XML (IIS refuses the whole directory
// otherwise) and maps extensionless files, which the tokens are, to
// text/plain.
func TestWebConfig_ServesExtensionlessTokens(t *testing.T) {
	var cfg struct {
		MimeMaps []struct {
			Ext  string `xml:"fileExtension,attr"`
			Type string `xml:"mimeType,attr"`
		} `xml:"system.webServer>staticContent>mimeMap"`
	}
	if err := xml.Unmarshal([]byte(readScript(t, "web.config")), &cfg); err != nil {
		t.Fatalf("web.config: %v", err)
	}
	if len(cfg.MimeMaps) != 1 || cfg.MimeMaps[0].Ext != "." || cfg.MimeMaps[0].Type != "text/plain" {
		t.Fatalf("web.config maps %+v", cfg.MimeMaps)
	}
}
