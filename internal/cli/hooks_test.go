package cli

import (
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	ok := map[string][]string{
		"systemctl reload nginx":           {"systemctl", "reload", "nginx"},
		`sh -c 'echo "$CERTCTL_NAME" > x'`: {"sh", "-c", `echo "$CERTCTL_NAME" > x`},
		`a "b c" d\ e`:                     {"a", "b c", "d e"},
		`"" x`:                             {"", "x"},
		"  spaced\tout  ":                  {"spaced", "out"},
		`echo "a \"q\" b"`:                 {"echo", `a "q" b`},
		"touch $(rm -rf /)":                {"touch", "$(rm", "-rf", "/)"},
	}
	for in, want := range ok {
		got, err := splitCommand(in)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `echo 'open`, `echo "open`, `trailing\`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q) accepted", bad)
		}
	}
}
