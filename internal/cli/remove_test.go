package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
)

// `remove` deletes the files a certificate's file bindings exported, the
// private key first and the PFX with it, says which, and leaves another
// certificate's files alone; with --keep-files it leaves them and lists
// them. (It used to leave privkey.pem behind without a word.)
func TestCLI_Remove_DeletesExportedFiles(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	live, pfx := filepath.Join(dir, "live"), filepath.Join(dir, "pfx", "a.pfx")
	h.mustRun("issue", "-d", "a.example", "--http-addr", h.httpAddr(), "--agree-tos", "--export", live, "--pfx", pfx)
	h.mustRun("issue", "-d", "b.example", "--http-addr", h.httpAddr(), "--export", live)
	h.mustRun("issue", "-d", "c.example", "--http-addr", h.httpAddr(), "--export", live)
	a := filepath.Join(live, "a.example")

	var got struct {
		Name         string   `json:"name"`
		Removed      bool     `json:"removed"`
		DeletedFiles []string `json:"deleted_files"`
		KeptFiles    []string `json:"kept_files"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("remove", "a.example", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(a, "privkey.pem"), pfx, filepath.Join(a, "cert.pem"), filepath.Join(a, "chain.pem"),
		filepath.Join(a, "fullchain.pem"), a}
	if !got.Removed || !slices.Equal(got.DeletedFiles, want) || len(got.KeptFiles) != 0 {
		t.Fatalf("remove reported %+v, want deleted %q", got, want)
	}
	for _, p := range want {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after remove (%v)", p, err)
		}
	}
	if _, ok := h.list()["a.example"]; ok {
		t.Fatal("a.example still listed")
	}
	h.verifyExport(filepath.Join(live, "b.example"), "b.example") // untouched

	out := h.mustRun("remove", "b.example", "--keep-files")
	bkey := filepath.Join(live, "b.example", "privkey.pem")
	if !strings.Contains(out, "Kept its exported files") || !strings.Contains(out, bkey) {
		t.Fatalf("--keep-files output does not list the kept key:\n%s", out)
	}
	h.verifyExport(filepath.Join(live, "b.example"), "b.example")
	if _, ok := h.list()["b.example"]; ok {
		t.Fatal("b.example still listed")
	}

	// DIR/NAME swapped for a link: nothing is deleted through it, and the
	// certificate stays in the store so that remove can be retried.
	elsewhere := t.TempDir()
	c := filepath.Join(live, "c.example")
	if err := os.Rename(c, filepath.Join(elsewhere, "c.example")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "c.example"), c); err != nil {
		t.Fatal(err)
	}
	code, _, errs := h.run("remove", "c.example")
	if code != 2 || !strings.Contains(errs, "symbolic link") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("remove through a link: exit %d, %q", code, errs)
	}
	h.verifyExport(filepath.Join(elsewhere, "c.example"), "c.example")
	if _, ok := h.list()["c.example"]; !ok {
		t.Fatal("c.example left the store although its files could not be deleted")
	}
}
