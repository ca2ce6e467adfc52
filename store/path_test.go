package store

import (
	"testing"
)

func TestDefaultPath_Precedence(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		env  map[string]string
		euid int
		home string
		want string
	}{
		{"env wins", map[string]string{"CERTCTL_STORE": "/x/s.db", "XDG_DATA_HOME": "/xdg"}, 0, "/root", "/x/s.db"},
		{"root", map[string]string{"XDG_DATA_HOME": "/xdg"}, 0, "/root", "/var/lib/certctl/certctl.db"},
		{"xdg", map[string]string{"XDG_DATA_HOME": "/xdg"}, 1000, "/home/u", "/xdg/certctl/certctl.db"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel"}, 1000, "/home/u", "/home/u/.local/share/certctl/certctl.db"},
		{"home", nil, 1000, "/home/u", "/home/u/.local/share/certctl/certctl.db"},
		{"no home", nil, 1000, "", "certctl.db"},
	}
	for _, tc := range cases {
		if got := defaultPath(env(tc.env), tc.euid, tc.home); got != tc.want {
			t.Errorf("%s: defaultPath = %q, want %q", tc.name, got, tc.want)
		}
	}
	t.Setenv("CERTCTL_STORE", "/tmp/custom.db")
	if got := DefaultPath(); got != "/tmp/custom.db" {
		t.Errorf("DefaultPath with CERTCTL_STORE = %q", got)
	}
}
