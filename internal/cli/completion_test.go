package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/cli"
	"github.com/certctl/certctl/store"
)

// completionStore makes a store holding the certificates names (records
// only, no versions) and returns its path.
func completionStore(t *testing.T, names ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "certctl.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := db.Put(context.Background(), &store.Certificate{Name: n, Domains: []string{n}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// complete runs `certctl __complete args...` in-process and returns the
// offered words, the directive line (":4" and so on) and what else it wrote
// on stderr.
func complete(t *testing.T, args ...string) (words []string, directive string, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }},
		append([]string{"__complete"}, args...))
	if code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s\n%s", args, code, out.String(), errb.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		words = append(words, strings.SplitN(l, "\t", 2)[0])
	}
	// cobra always reports the directive on stderr (the scripts discard
	// it); anything else there is noise a shell would show.
	stderr = strings.ReplaceAll(errb.String(), "Completion ended with directive: ShellCompDirectiveNoFileComp\n", "")
	return words, directive, stderr
}

// noFileComp is cobra's ShellCompDirectiveNoFileComp as __complete prints it.
const noFileComp = ":4"

func TestCompletion_CertificateNames(t *testing.T) {
	path := completionStore(t, "alpha.example", "beta.example")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"show", ""}, []string{"alpha.example", "beta.example"}},
		{[]string{"show", "al"}, []string{"alpha.example"}},
		{[]string{"show", "alpha.example", ""}, nil}, // one name only
		{[]string{"export", ""}, []string{"alpha.example", "beta.example"}},
		{[]string{"revoke", "b"}, []string{"beta.example"}},
		{[]string{"remove", ""}, []string{"alpha.example", "beta.example"}},
		{[]string{"rollback", ""}, []string{"alpha.example", "beta.example"}},
		{[]string{"configure", ""}, []string{"alpha.example", "beta.example"}},
		{[]string{"renew", "alpha.example", ""}, []string{"beta.example"}}, // several, not twice
		{[]string{"issue", "--name", ""}, []string{"alpha.example", "beta.example"}},
	} {
		args := append([]string{"--store", path}, tc.args...)
		words, dir, errs := complete(t, args...)
		if !slices.Equal(words, tc.want) {
			t.Errorf("%q: completions %q, want %q", tc.args, words, tc.want)
		}
		if dir != noFileComp {
			t.Errorf("%q: directive %q, want %q", tc.args, dir, noFileComp)
		}
		if errs != "" {
			t.Errorf("%q: stderr %q", tc.args, errs)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("completing names changed the store file")
	}
}

func TestCompletion_NoStore_NothingQuietly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none", "certctl.db")
	for _, st := range []string{missing, dir, "bogus://x"} {
		words, d, errs := complete(t, "--store", st, "show", "")
		if len(words) != 0 || d != noFileComp || errs != "" {
			t.Errorf("store %s: completions %q, directive %q, stderr %q; want none, %s, nothing", st, words, d, errs, noFileComp)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("completion created the store's directory: %v", err)
	}
}

func TestCompletion_Generators(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb}, []string{"completion", sh})
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", sh, code, errb.String())
		}
		if out.Len() < 200 || !strings.Contains(out.String(), "certctl") || !strings.Contains(out.String(), "__complete") {
			t.Errorf("completion %s: %d bytes, want a script naming certctl and __complete:\n%.300s", sh, out.Len(), out.String())
		}
	}
}
