package winacl

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSDDL(t *testing.T) {
	const user = "S-1-5-21-1-2-3-1001"
	cases := []struct {
		name  string
		dir   bool
		user  string
		admin bool
		want  string
	}{
		{"service file", false, sidSystem, true, "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)"},
		{"service dir", true, sidSystem, true, "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"},
		{"elevated administrator", true, user, true, "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"},
		{"user file", false, user, false, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;" + user + ")"},
		{"user dir", true, user, false, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + user + ")"},
		{"unknown user", false, "", false, "D:P(A;;FA;;;SY)(A;;FA;;;BA)"},
	}
	for _, tc := range cases {
		if got := sddl(tc.dir, tc.user, tc.admin); got != tc.want {
			t.Errorf("%s: sddl = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckDir(t *testing.T) {
	const (
		user  = "S-1-5-21-1-2-3-1001"
		other = "S-1-5-21-1-2-3-1002"
		users = "S-1-5-32-545" // BUILTIN\Users
	)
	const readExecute = 0x1200a9
	cases := []struct {
		name  string
		owner string
		aces  []ace
		want  string // "" ok, "broad" errBroad, otherwise a substring
	}{
		{"restricted, service", sidSystem, []ace{{sidSystem, 0x1f01ff, 0x3}, {sidAdmins, 0x1f01ff, 0x3}}, ""},
		{"owned by user", user, []ace{{user, 0x1f01ff, 0}}, ""},
		{"owned by admins", sidAdmins, nil, ""},
		{"owned by another user", other, nil, "owned by " + other},
		{"others may read", sidAdmins, []ace{{users, readExecute, 0}}, ""},
		{"others may add files", sidAdmins, []ace{{users, readExecute | fileAddFile, 0}}, "broad"},
		{"others may add directories", sidSystem, []ace{{users, fileAddSubdirectory, 0}}, "broad"},
		{"others may change the ACL", user, []ace{{other, writeDAC, 0}}, "broad"},
		{"generic write", user, []ace{{other, genericWrite, 0}}, "broad"},
		{"inherit-only entry ignored", sidAdmins, []ace{{"S-1-3-0", 0x1f01ff, 0x8 | 0x3}}, ""},
		{"Program Files subdirectory", sidAdmins, []ace{{sidTrustedInstaller, 0x1f01ff, 0}, {sidSystem, 0x1301bf, 0},
			{sidAdmins, 0x1301bf, 0}, {users, readExecute, 0}, {"S-1-3-0", 0x10000000, 0xb}}, ""},
	}
	for _, tc := range cases {
		err := checkDir(tc.owner, tc.aces, user)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: checkDir = %v, want nil", tc.name, err)
		case tc.want == "broad" && !errors.Is(err, errBroad):
			t.Errorf("%s: checkDir = %v, want errBroad", tc.name, err)
		case tc.want != "" && tc.want != "broad" && (err == nil || errors.Is(err, errBroad) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: checkDir = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckSecret(t *testing.T) {
	const (
		user  = "S-1-5-21-1-2-3-1001"
		users = "S-1-5-32-545"
		all   = "S-1-1-0" // Everyone
	)
	cases := []struct {
		name  string
		owner string
		aces  []ace
		ok    bool
	}{
		{"restricted", sidAdmins, []ace{{sidSystem, 0x1f01ff, 0}, {sidAdmins, 0x1f01ff, 0}, {user, 0x1f01ff, 0}}, true},
		{"users may read", sidAdmins, []ace{{sidSystem, 0x1f01ff, 0}, {users, 0x1200a9, 0x10}}, false},
		{"everyone generic read", user, []ace{{all, genericRead, 0}}, false},
		{"users may only read attributes", user, []ace{{users, 0x80 | 0x100000, 0}}, true},
		{"owned by another user", "S-1-5-21-1-2-3-1002", nil, false},
	}
	for _, tc := range cases {
		err := checkSecret(tc.owner, tc.aces, user)
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkSecret = %v, want ok %v", tc.name, err, tc.ok)
		}
		// A directory check lets readers be.
		if tc.name == "users may read" {
			if err := checkDir(tc.owner, tc.aces, user); err != nil {
				t.Errorf("%s: checkDir = %v, want nil", tc.name, err)
			}
		}
	}
}

// Off Windows MkdirAll makes an owner-only directory and the rest do
// nothing.
func TestMkdirAll_Unix(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	d := filepath.Join(t.TempDir(), "a", "b")
	if err := MkdirAll(d); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
	if err := Restrict(d); err != nil {
		t.Errorf("Restrict: %v", err)
	}
	if err := CheckPrivate(d); err != nil {
		t.Errorf("CheckPrivate: %v", err)
	}
	if err := CheckSecret(d); err != nil {
		t.Errorf("CheckSecret: %v", err)
	}
	if err := CheckOwner(d); err != nil {
		t.Errorf("CheckOwner: %v", err)
	}
}
