package renew

import (
	"testing"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/store"
)

// A hook is told where the password of the PFX that was exported is: that
// binding's password file or variable name, not another binding's; nothing
// when no PFX was exported.
func TestHookEnv_PFXPasswordOfTheExportedBinding(t *testing.T) {
	c := &store.Certificate{Name: "shop", Bindings: []store.FileBinding{
		{Dir: "/etc/ssl/certctl"},
		{PFX: `C:\iis\a.pfx`, PFXPasswordFile: `C:\iis\a.pass`},
		{PFX: `C:\iis\b.pfx`, PFXPasswordEnv: "B_PFX_PASSWORD", PFXLegacy: true},
	}}
	for _, tc := range []struct {
		pfx, wantFile, wantEnv string
	}{
		{`C:\iis\a.pfx`, `C:\iis\a.pass`, ""},
		{`C:\iis\b.pfx`, "", "B_PFX_PASSWORD"},
		{"", "", ""},
	} {
		e := hookEnv(HookDeploy, c, export.ExportedFiles{PFX: tc.pfx}, nil)
		if e.PFXFile != tc.pfx || e.PFXPasswordFile != tc.wantFile || e.PFXPasswordEnv != tc.wantEnv {
			t.Errorf("PFX %q: hook told file %q, password file %q, variable %q; want %q, %q", tc.pfx,
				e.PFXFile, e.PFXPasswordFile, e.PFXPasswordEnv, tc.wantFile, tc.wantEnv)
		}
	}
}
