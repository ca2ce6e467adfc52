package cli_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// Two `certctl issue` processes overlap on one HTTP-01 port: the second
// finds the port held by the first, publishes its tokens in the shared
// store instead of waiting, and the first's responder answers them from the
// store; both certificates are issued and verify.
//
// To make the overlap certain, the test itself first relies on the holder
// the way a second process does: once the holder logs that it presented its
// token, the test publishes a token of its own in the store and fetches it
// from the holder's port. A holder that answered it keeps its responder up
// until the token is retracted, so the second process is started while the
// port is certainly held.
func TestBinary_OverlappingIssueSharesPort(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "warm.example", "--http-addr", h.httpAddr(), "--agree-tos") // the account
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := renew.SharedChallenges(db)

	var holder *exec.Cmd
	var holderName string
	var holderLog *strings.Builder
	var holderDone chan struct{}
	token, keyAuth := randomToken(t), randomToken(t)+"."+randomToken(t)
	for attempt := 0; holder == nil; attempt++ {
		if attempt == 5 {
			t.Fatal("the first process never held the port while the test checked it")
		}
		name := "holder" + string(rune('a'+attempt)) + ".example"
		cmd := exec.CommandContext(ctx, bin, append(h.globals(), "--log-level", "debug",
			"issue", "-d", name, "--http-addr", h.httpAddr(), "--agree-tos")...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		presented := make(chan struct{})
		logb := &strings.Builder{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stderr)
			seen := false
			for sc.Scan() {
				logb.WriteString(sc.Text() + "\n")
				if !seen && strings.Contains(sc.Text(), "http-01 token presented") {
					seen = true
					close(presented)
				}
			}
			_, _ = io.Copy(io.Discard, stderr)
		}()
		select {
		case <-presented:
		case <-done:
			_ = cmd.Wait()
			t.Fatalf("first process ended before presenting a token:\n%s", logb.String())
		case <-ctx.Done():
			t.Fatal("first process did not present a token")
		}
		if err := cs.PublishChallenge(ctx, acme.HTTP01, token, keyAuth, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err := fetchToken(ctx, h.httpAddr(), token); err == nil && got == keyAuth {
			holder, holderName, holderLog, holderDone = cmd, name, logb, done
			break
		}
		// The first process finished its order before the test asked: try
		// again with a new one.
		<-done
		if err := cmd.Wait(); err != nil {
			t.Fatalf("first process: %v\n%s", err, logb.String())
		}
	}

	code, out, errs := h.binary(t, "--log-level", "info", "issue", "-d", "second.example", "-d", "www.second.example",
		"--http-addr", h.httpAddr(), "--agree-tos")
	if code != 0 || !strings.Contains(out, "ISSUED") {
		t.Fatalf("second process: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "publishing tokens for it to answer instead of waiting") ||
		!strings.Contains(errs, "published http-01 token; another certctl process answers it") ||
		strings.Contains(errs, "waiting for the port") {
		t.Fatalf("second process did not rely on the holder's responder:\n%s", errs)
	}

	if err := cs.RetractChallenge(ctx, acme.HTTP01, token, keyAuth); err != nil {
		t.Fatal(err)
	}
	<-holderDone
	if err := holder.Wait(); err != nil {
		t.Fatalf("first process: %v\n%s", err, holderLog.String())
	}
	if !strings.Contains(holderLog.String(), "keeping the http-01 responder up for other certctl processes") {
		t.Fatalf("first process did not keep its responder up for the others:\n%s", holderLog.String())
	}
	list := h.list()
	for _, n := range []string{holderName, "second.example"} {
		if list[n].Serial == "" {
			t.Fatalf("%s not issued: %+v", n, list)
		}
	}
	h.verifyExportOf(t, "second.example", "second.example", "www.second.example")
	h.verifyExportOf(t, holderName, holderName)
}

// verifyExportOf exports name and verifies it against the CA's root for
// domains.
func (h *harness) verifyExportOf(t *testing.T, name string, domains ...string) {
	t.Helper()
	dir := t.TempDir()
	if code, _, errs := h.binary(t, "export", name, "--dir", dir); code != 0 {
		t.Fatalf("export %s: %s", name, errs)
	}
	h.verifyExport(dir, domains...)
}

func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// fetchToken asks the HTTP-01 responder on addr (loopback) for token.
func fetchToken(ctx context.Context, addr, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/.well-known/acme-challenge/"+token, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", io.ErrUnexpectedEOF
	}
	return string(b), err
}
