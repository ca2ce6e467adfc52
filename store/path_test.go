package store

import (
	"testing"
)

func TestDefaultPath_Precedence(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		goos string
		env  map[string]string
		euid int
		home string
		want string
	}{
		{"env wins", "linux", map[string]string{"CERTCTL_STORE": "/x/s.db", "XDG_DATA_HOME": "/xdg"}, 0, "/root", "/x/s.db"},
		{"root", "linux", map[string]string{"XDG_DATA_HOME": "/xdg"}, 0, "/root", "/var/lib/certctl/certctl.db"},
		{"xdg", "linux", map[string]string{"XDG_DATA_HOME": "/xdg"}, 1000, "/home/u", "/xdg/certctl/certctl.db"},
		{"relative xdg ignored", "darwin", map[string]string{"XDG_DATA_HOME": "rel"}, 1000, "/home/u", "/home/u/.local/share/certctl/certctl.db"},
		{"home", "linux", nil, 1000, "/home/u", "/home/u/.local/share/certctl/certctl.db"},
		{"no home", "linux", nil, 1000, "", "certctl.db"},

		// On Windows euid is -1 and the home directory is not used: the
		// default store is the machine's, for the service.
		{"windows env wins", "windows", map[string]string{"CERTCTL_STORE": `D:\s.db`, "ProgramData": `C:\ProgramData`}, -1, `C:\Users\u`, `D:\s.db`},
		{"windows ProgramData", "windows", map[string]string{"ProgramData": `C:\ProgramData`}, -1, `C:\Users\u`, `C:\ProgramData\certctl\certctl.db`},
		{"windows ProgramData elsewhere", "windows", map[string]string{"ProgramData": `e:\Data\`}, -1, "", `e:\Data\certctl\certctl.db`},
		{"windows ProgramData UNC", "windows", map[string]string{"ProgramData": `\\srv\share`}, -1, "", `\\srv\share\certctl\certctl.db`},
		{"windows no ProgramData", "windows", nil, -1, `C:\Users\u`, `C:\ProgramData\certctl\certctl.db`},
		{"windows relative ProgramData ignored", "windows", map[string]string{"ProgramData": `ProgramData`}, -1, "", `C:\ProgramData\certctl\certctl.db`},
		{"windows drive-relative ProgramData ignored", "windows", map[string]string{"ProgramData": `C:ProgramData`}, -1, "", `C:\ProgramData\certctl\certctl.db`},
		{"windows XDG ignored", "windows", map[string]string{"XDG_DATA_HOME": `C:\xdg`, "ProgramData": `C:\ProgramData`}, -1, "", `C:\ProgramData\certctl\certctl.db`},
	}
	for _, tc := range cases {
		if got := defaultPath(tc.goos, env(tc.env), tc.euid, tc.home); got != tc.want {
			t.Errorf("%s: defaultPath = %q, want %q", tc.name, got, tc.want)
		}
	}
	t.Setenv("CERTCTL_STORE", "/tmp/custom.db")
	if got := DefaultPath(); got != "/tmp/custom.db" {
		t.Errorf("DefaultPath with CERTCTL_STORE = %q", got)
	}
}
