package cli

import (
	"bufio"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// testOnlyModules are the modules go.mod requires directly that only tests
// (and the harness behind them) use: not linked into certctl.
var testOnlyModules = []string{
	"github.com/emersion/go-sasl",
	"github.com/emersion/go-smtp",
	"github.com/letsencrypt/challtestsrv",
	"github.com/letsencrypt/pebble/v2",
	"go.etcd.io/etcd/server/v3",
	"go.uber.org/goleak",
}

// TestDirectModules keeps directModules in step with go.mod: every direct
// requirement is either listed there or known to be test-only, and nothing
// listed is gone from go.mod.
func TestDirectModules(t *testing.T) {
	f, err := os.Open("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var direct []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "require ("):
			in = true
		case l == ")":
			in = false
		case in && l != "" && !strings.Contains(l, "// indirect"):
			direct = append(direct, strings.Fields(l)[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range direct {
		if !slices.Contains(directModules, m) && !slices.Contains(testOnlyModules, m) {
			t.Errorf("go.mod requires %s directly: add it to directModules (version.go) or testOnlyModules", m)
		}
	}
	for _, m := range directModules {
		if !slices.Contains(direct, m) {
			t.Errorf("directModules lists %s, which go.mod does not require directly", m)
		}
	}
}

func TestBuildVersion_Fallbacks(t *testing.T) {
	deps := []*debug.Module{
		{Path: "github.com/go-acme/lego/v4", Version: "v4.35.2"},
		{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
		{Path: "github.com/some/indirect", Version: "v0.1.0"},
	}
	for _, tc := range []struct {
		name, ld, main string
		settings       []debug.BuildSetting
		want, wantRev  string
	}{
		{"ldflags wins", "v1.2.3", "v9.9.9", nil, "v1.2.3", ""},
		{"module version", "dev", "v1.4.0", nil, "v1.4.0", ""},
		{"revision", "", "(devel)", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}},
			"dev-0123456789ab", "0123456789abcdef0123"},
		{"nothing", "dev", "(devel)", nil, "dev", ""},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/certctl/certctl", Version: tc.main},
			Deps: deps, Settings: tc.settings}
		v := buildVersion(tc.ld, bi, false)
		if v.Version != tc.want || v.Revision != tc.wantRev || v.Lego != "v4.35.2" || v.Go != "go1.26.8" {
			t.Errorf("%s: %+v, want version %q revision %q", tc.name, v, tc.want, tc.wantRev)
		}
		if len(v.Modules) != 2 {
			t.Errorf("%s: modules %+v, want lego and cobra only", tc.name, v.Modules)
		}
		if all := buildVersion(tc.ld, bi, true); len(all.Modules) != 3 {
			t.Errorf("%s: --all modules %+v, want all three", tc.name, all.Modules)
		}
	}
	if v := buildVersion("", nil, false); v.Version != "dev" || v.Go == "" {
		t.Errorf("no build info: %+v", v)
	}
}
