package cli

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/certctl/certctl/renew"
)

// The deploy hook command lines given for IIS (in deploy.ps1's help and the
// README) reach PowerShell as meant: certctl splits a hook like a POSIX
// shell, so a backslash outside quotes would be eaten; the script's
// Windows path is single-quoted and must arrive whole.
func TestIISDeployHookExamples_SplitAsMeant(t *testing.T) {
	hookArg := regexp.MustCompile(`--deploy-hook "([^"]*deploy\.ps1[^"]*)"`)
	found := 0
	for _, file := range []string{"../../examples/iis/deploy.ps1", "../../examples/iis/README.md", "../../README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range hookArg.FindAllStringSubmatch(string(b), -1) {
			found++
			argv, err := splitCommand(m[1])
			if err == nil {
				err = renew.CheckHook(argv)
			}
			if err != nil {
				t.Errorf("%s: %q: %v", file, m[1], err)
				continue
			}
			i := slices.Index(argv, "-File")
			if argv[0] != "powershell.exe" || i < 0 || i+1 >= len(argv) {
				t.Errorf("%s: %q splits into %q: want powershell.exe ... -File SCRIPT", file, m[1], argv)
				continue
			}
			if script := argv[i+1]; !regexp.MustCompile(`^[A-Z]:\\.*\\deploy\.ps1$`).MatchString(script) {
				t.Errorf("%s: the script path arrives as %q", file, script)
			}
			if j := slices.Index(argv, "-Site"); j < 0 || j+1 >= len(argv) || strings.HasPrefix(argv[j+1], "'") {
				t.Errorf("%s: -Site arrives as %q", file, argv)
			}
		}
	}
	if found < 3 {
		t.Fatalf("found %d deploy hook examples, want one in each file", found)
	}
}
