package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGenerate_PagePerCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	date := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pages, err := generate(dir, "v9.8.7", date)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, e := range entries {
		written = append(written, filepath.Join(dir, e.Name()))
	}
	slices.Sort(pages)
	if !slices.Equal(written, pages) {
		t.Errorf("written %q\nwant one per command %q", written, pages)
	}
	for _, want := range []string{"certctl.1", "certctl-issue.1", "certctl-renew.1", "certctl-version.1", "certctl-store-copy.1",
		"certctl-completion-bash.1", "certctl-completion-powershell.1", "certctl-daemon.1"} {
		if !slices.Contains(pages, filepath.Join(dir, want)) {
			t.Errorf("no page %s", want)
		}
	}
	for _, p := range pages {
		if strings.Contains(p, "__complete") || strings.HasSuffix(p, "-help.1") {
			t.Errorf("page for a hidden command: %s", p)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "certctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, s := range []string{`.TH "CERTCTL" "1" "Dec 2026" "certctl v9.8.7" "certctl manual"`, ".SH NAME", "certctl - Obtain, renew",
		".SH SYNOPSIS", ".SH OPTIONS", `\fBcertctl-issue(1)\fP`} {
		if !strings.Contains(page, s) {
			t.Errorf("certctl.1 lacks %q:\n%s", s, page)
		}
	}
	b, err = os.ReadFile(filepath.Join(dir, "certctl-daemon.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "--smtp-url") {
		t.Errorf("certctl-daemon.1 lacks --smtp-url")
	}
}
