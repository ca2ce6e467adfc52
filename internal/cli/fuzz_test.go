package cli

import (
	"slices"
	"strings"
	"testing"
)

// shellQuote quotes s for splitCommand (and a POSIX shell): in single
// quotes, each ' written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FuzzSplitCommand checks that splitCommand never panics, never returns an
// empty list without an error, keeps every byte it was given (no lost or
// replaced bytes, even in invalid UTF-8: file names need not be UTF-8), and
// that quoting its words and splitting again gives the same words.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"systemctl reload nginx", `sh -c 'echo "$CERTCTL_NAME"'`, `a\ b "c d" 'e f'`, `"unterminated`,
		`x\`, `''`, `""`, "a\tb\nc", `"a\"b"`, `'it'\''s'`, "\xff\xfe /tmp/caf\xe9", "  ", `C:\path\to "a\b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := splitCommand(s)
		if err != nil {
			if args != nil {
				t.Fatalf("splitCommand(%q) = %q with error %v", s, args, err)
			}
			return
		}
		if len(args) == 0 {
			t.Fatalf("splitCommand(%q): no words and no error", s)
		}
		for _, a := range args {
			for i := 0; i < len(a); i++ {
				if strings.IndexByte(s, a[i]) < 0 {
					t.Fatalf("splitCommand(%q) = %q: byte %q of %q is not in the input", s, args, a[i], a)
				}
			}
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		again, err := splitCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("splitCommand(%q) = %q, but its quoted form splits into %q, %v", s, args, again, err)
		}
	})
}
