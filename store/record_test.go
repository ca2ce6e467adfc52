package store

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func seqs(c *Certificate) []int {
	var out []int
	for _, v := range c.Versions {
		out = append(out, v.Seq)
	}
	return out
}

func TestCertificate_AddVersion_TrimsKeepingActive(t *testing.T) {
	c := &Certificate{Name: "a.example"}
	if c.ActiveVersion() != nil || c.NextSeq() != 1 {
		t.Fatalf("empty certificate: ActiveVersion=%v NextSeq=%d, want nil and 1", c.ActiveVersion(), c.NextSeq())
	}
	for range 7 {
		c.AddVersion(testVersion(c.NextSeq()))
	}
	if got, want := seqs(c), []int{3, 4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("after 7 versions: seqs %v, want %v", got, want)
	}
	if c.Active != 7 || c.ActiveVersion().Seq != 7 {
		t.Fatalf("Active = %d, want 7", c.Active)
	}

	// A new version becomes active, so a rolled-back older one may go.
	c.Active = 3
	c.AddVersion(testVersion(c.NextSeq()))
	if got, want := seqs(c), []int{4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("after rollback and new version: seqs %v, want %v", got, want)
	}
	// Trimming (as Put does) never drops the active version, even the oldest.
	c.Active = 4
	c.Versions = append(c.Versions, testVersion(9), testVersion(10))
	c.trimVersions()
	if got, want := seqs(c), []int{4, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("trim keeping active 4: seqs %v, want %v", got, want)
	}
	if c.ActiveVersion().Seq != 4 {
		t.Fatalf("ActiveVersion = %d, want 4", c.ActiveVersion().Seq)
	}
	if c.Version(5) != nil || c.Version(8) == nil || c.Version(8).Seq != 8 {
		t.Fatalf("Version lookup wrong: Version(5)=%v Version(8)=%v", c.Version(5), c.Version(8))
	}
	if c.NextSeq() != 11 {
		t.Fatalf("NextSeq = %d, want 11", c.NextSeq())
	}
}

func TestCertificate_Version_ReturnsPointerIntoRecord(t *testing.T) {
	c := fullCert("a.example")
	c.Version(1).Revoked = false
	if c.Versions[0].Revoked {
		t.Fatal("Version(1) returned a copy; want a pointer into Versions")
	}
}

func TestCertificate_Clone_IsDeep(t *testing.T) {
	orig := fullCert("a.example")
	orig.Revision = 9
	want := fullCert("a.example")
	want.Revision = 9
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatal("Clone differs from the original")
	}
	c.Domains[0] = "x"
	c.Challenge.DNSResolvers[0] = "x"
	c.Hooks.Pre[0], c.Hooks.Deploy[0], c.Hooks.Post[0], c.Hooks.Failure[0] = "x", "x", "x", "x"
	c.Bindings[0].ReloadCmd[0] = "x"
	c.Bindings[0].Dir = "x"
	c.Versions[0].CertPEM[0] = 'x'
	c.Versions[0].ChainPEM[0] = 'x'
	c.Versions[0].KeyPEM[0] = 'x'
	c.Versions[1].Serial = "x"
	if !reflect.DeepEqual(orig, want) {
		t.Fatal("changing the clone changed the original")
	}
	if (*Certificate)(nil).Clone() != nil {
		t.Fatal("nil.Clone() != nil")
	}
}

func TestCertificate_Validate_RejectsBadNamesAndActive(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "/", "a\\b", "a\x00b", strings.Repeat("a", 256), "..a", "-a", "a b"} {
		c := &Certificate{Name: name}
		if err := c.validate(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("validate(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	for _, name := range []string{"a", "a.example", "_acme.x-y", strings.Repeat("a", 255), "a."} {
		c := &Certificate{Name: name}
		if err := c.validate(); err != nil {
			t.Errorf("validate(%q) = %v, want nil", name, err)
		}
	}
	c := &Certificate{Name: "a", Active: 3, Versions: []Version{{Seq: 1}}}
	if err := c.validate(); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("validate with dangling Active = %v, want ErrInvalidRecord", err)
	}
}
