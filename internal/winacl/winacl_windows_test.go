package winacl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// On Windows (not run where this was written: it compiles in make test's
// cross-compile step): a directory MkdirAll creates is private, one that
// lets Users write is refused by CheckPrivate and fixed by MkdirAll.
func TestMkdirAll_Windows(t *testing.T) {
	d := filepath.Join(t.TempDir(), "priv")
	if err := MkdirAll(d); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(d); err != nil {
		t.Fatalf("CheckPrivate after MkdirAll: %v", err)
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BU)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(d, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(d); !errors.Is(err, errBroad) {
		t.Fatalf("CheckPrivate with Users:F = %v, want errBroad", err)
	}
	if err := MkdirAll(d); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(d); err != nil {
		t.Fatalf("CheckPrivate after MkdirAll fixed it: %v", err)
	}
	f := filepath.Join(d, "key")
	if err := os.WriteFile(f, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restrict(f); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecret(f); err != nil {
		t.Fatalf("CheckSecret after Restrict: %v", err)
	}
	if err := CheckOwner(f); err != nil {
		t.Fatalf("CheckOwner: %v", err)
	}
	// A file that inherits Users' read access is no secret.
	g := filepath.Join(t.TempDir(), "open")
	if err := os.WriteFile(g, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sd, err = windows.SecurityDescriptorFromString("D:P(A;;FA;;;SY)(A;;FR;;;BU)")
	if err != nil {
		t.Fatal(err)
	}
	if dacl, _, err = sd.DACL(); err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(g, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecret(g); !errors.Is(err, errBroad) {
		t.Fatalf("CheckSecret with Users:R = %v, want errBroad", err)
	}
}
