package proctest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireShell skips the test where there is no /bin/sh (Windows).
func RequireShell(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
}

// Script writes body, after a "#!/bin/sh" line, to an executable file named
// name in a new temporary directory and returns its path. It skips the test
// where there is no /bin/sh.
func Script(t testing.TB, name, body string) string {
	t.Helper()
	RequireShell(t)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}
