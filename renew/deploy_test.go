package renew_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// After a renewal the file bindings are written, the reload command runs,
// and the deploy hook receives every documented variable with its value.
func TestService_Deploy_BindingsAndHookVariables(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	dir := t.TempDir()
	envFile := filepath.Join(dir, "deploy.env")
	reloaded := filepath.Join(dir, "reloaded")
	hook := filepath.Join(dir, "deploy.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nenv | grep '^CERTCTL_' | sort > "+envFile+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_PFX_PASSWORD", "s3cret pass")
	tmpl := e.tmpl("dep.example", "dep.example", "www.dep.example")
	tmpl.Hooks = store.Hooks{Deploy: []string{hook}}
	tmpl.Bindings = []store.FileBinding{{
		Dir: filepath.Join(dir, "live"), PFX: filepath.Join(dir, "iis", "dep.pfx"), PFXPasswordEnv: "TEST_PFX_PASSWORD",
		ReloadCmd: []string{"touch", reloaded},
	}}
	r := e.svc.Issue(ctx, tmpl, false)
	if r.Err != nil || r.DeployErr != nil {
		t.Fatalf("Issue: %v / deploy: %v", r.Err, r.DeployErr)
	}
	if _, err := os.Stat(reloaded); err != nil {
		t.Fatalf("reload command did not run: %v", err)
	}
	// A renewal deploys again, with the new serial.
	if err := os.Remove(reloaded); err != nil {
		t.Fatal(err)
	}
	r = e.svc.Renew(ctx, "dep.example", true)
	if r.Err != nil || r.DeployErr != nil || r.Action != renew.ActionRenewed {
		t.Fatalf("Renew: %+v", r)
	}
	if _, err := os.Stat(reloaded); err != nil {
		t.Fatalf("reload command did not run after renewal: %v", err)
	}
	c, _ := e.db.Get(ctx, "dep.example")
	v := c.ActiveVersion()
	live := filepath.Join(dir, "live", "dep.example")
	want := map[string]string{
		"CERTCTL_EVENT":             "deploy",
		"CERTCTL_NAME":              "dep.example",
		"CERTCTL_DOMAINS":           "dep.example,www.dep.example",
		"CERTCTL_SERIAL":            v.Serial,
		"CERTCTL_NOT_AFTER":         v.NotAfter.UTC().Format(time.RFC3339),
		"CERTCTL_CERT_FILE":         filepath.Join(live, "cert.pem"),
		"CERTCTL_KEY_FILE":          filepath.Join(live, "privkey.pem"),
		"CERTCTL_CHAIN_FILE":        filepath.Join(live, "chain.pem"),
		"CERTCTL_FULLCHAIN_FILE":    filepath.Join(live, "fullchain.pem"),
		"CERTCTL_PFX_FILE":          filepath.Join(dir, "iis", "dep.pfx"),
		"CERTCTL_PFX_PASSWORD_FILE": "",
		"CERTCTL_PFX_PASSWORD_ENV":  "TEST_PFX_PASSWORD",
		"CERTCTL_ERROR":             "",
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, val, _ := strings.Cut(line, "=")
		got[k] = val
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %q (set %v), want %q", k, g, ok, w)
		}
	}
	cert, _ := os.ReadFile(want["CERTCTL_CERT_FILE"])
	if !bytes.Equal(cert, v.CertPEM) {
		t.Fatal("exported cert.pem is not the active version")
	}
	if st, _ := os.Stat(want["CERTCTL_KEY_FILE"]); st.Mode().Perm() != 0o600 {
		t.Fatalf("privkey.pem mode %v", st.Mode())
	}
	pfx, err := os.ReadFile(filepath.Join(dir, "iis", "dep.pfx"))
	if err != nil {
		t.Fatal(err)
	}
	_, leaf, _, err := pkcs12.DecodeChain(pfx, "s3cret pass")
	if err != nil {
		t.Fatalf("PFX does not open with its password: %v", err)
	}
	if hex.EncodeToString(leaf.SerialNumber.Bytes()) != v.Serial {
		t.Fatal("PFX holds another certificate")
	}
	if _, _, _, err := pkcs12.DecodeChain(pfx, "wrong"); err == nil {
		t.Fatal("PFX opens with a wrong password")
	}
}

// A binding that cannot be written is reported; the new version stays
// active and the store keeps every version.
func TestService_Deploy_UnwritableExportReported(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := e.tmpl("bad.example", "bad.example")
	tmpl.Bindings = []store.FileBinding{{Dir: filepath.Join(file, "sub")}}
	r := e.svc.Issue(ctx, tmpl, false)
	if r.Err != nil || r.DeployErr == nil || r.Action != renew.ActionIssued {
		t.Fatalf("Issue = %+v", r)
	}
	c, err := e.db.Get(ctx, "bad.example")
	if err != nil || c.ActiveVersion() == nil {
		t.Fatalf("certificate lost after a failed export: %v", err)
	}
	if c.Renewal.DeployError == "" || renew.StatusOf(c, e.svc.Decide(c), time.Now()) != "failing" {
		t.Fatalf("failed deployment not recorded: %+v", c.Renewal)
	}
	// Fixed binding: the next deployment clears the error.
	c.Bindings = []store.FileBinding{{Dir: t.TempDir()}}
	if err := e.db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deploy(ctx, "bad.example"); err != nil {
		t.Fatal(err)
	}
	if c, _ = e.db.Get(ctx, "bad.example"); c.Renewal.DeployError != "" || renew.StatusOf(c, e.svc.Decide(c), time.Now()) != "valid" {
		t.Fatalf("after a good deployment: %+v", c.Renewal)
	}
}

// A hanging reload command is stopped at its timeout.
func TestService_Deploy_HangingHookTimesOut(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	e.svc.HookTimeout = 300 * time.Millisecond
	tmpl := e.tmpl("hang.example", "hang.example")
	tmpl.Hooks = store.Hooks{Deploy: []string{"sleep", "30"}}
	start := time.Now()
	r := e.svc.Issue(context.Background(), tmpl, false)
	if r.Err != nil || r.DeployErr == nil {
		t.Fatalf("Issue = %+v", r)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("hook not stopped: %v", time.Since(start))
	}
}

// Adding a file binding to a kept certificate writes its files at once.
func TestService_Issue_KeptWithNewBindingDeploys(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	first := e.mustIssue(t, "kept.example", "kept.example")
	dir := t.TempDir()
	tmpl := e.tmpl("kept.example", "kept.example")
	tmpl.Bindings = []store.FileBinding{{Dir: dir}}
	orders := e.srv.Orders()
	r := e.svc.Issue(ctx, tmpl, false)
	if r.Action != renew.ActionKept || r.Err != nil || r.DeployErr != nil || e.srv.Orders() != orders {
		t.Fatalf("Issue = %+v (orders %d)", r, e.srv.Orders()-orders)
	}
	cert, err := os.ReadFile(filepath.Join(dir, "kept.example", "cert.pem"))
	if err != nil {
		t.Fatalf("binding not written for the kept certificate: %v", err)
	}
	c, _ := e.db.Get(ctx, "kept.example")
	if !bytes.Equal(cert, c.ActiveVersion().CertPEM) || c.ActiveVersion().Serial != first.Serial {
		t.Fatal("exported file is not the kept certificate")
	}
}
