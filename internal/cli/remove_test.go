package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
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

// lineWatcher is an io.Writer that signals when a written line contains
// want.
type lineWatcher struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// The daemon, run in-process until its context ends after a scan, leaves
// no goroutine behind: not its manager, metrics server, signal handling or
// notifier.
func TestDaemon_NoGoroutineLeftAfterStop(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "leak.example", "--http-addr", h.httpAddr(), "--agree-tos")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	ignore := goleak.IgnoreCurrent()
	logs := &lineWatcher{want: "scan done", seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, &cli.Deps{Stdout: io.Discard, Stderr: logs}, append(h.globals(), "daemon",
			"--log-level", "info", "--metrics-addr", "127.0.0.1:0", "--webhook", "http://127.0.0.1:1/hook"))
	}()
	select {
	case <-logs.seen:
	case code := <-done:
		t.Fatalf("daemon exited %d: %s", code, logs.buf.String())
	case <-time.After(60 * time.Second):
		t.Fatal("no scan within 60s")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}
