package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// VersionInfo is the JSON schema of `certctl version -o json` (documented in
// README.md). Fields are only ever added.
type VersionInfo struct {
	// Version is certctl's version: the one set at build time
	// (-ldflags "-X main.version=..."), else the main module's version from
	// the build information, else "dev".
	Version string `json:"version"`
	// Revision is the VCS revision the binary was built from, when the build
	// recorded it; Modified says the work tree had uncommitted changes.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Go is the Go version that built the binary; OS and Arch its target.
	Go   string `json:"go"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	// Lego is the version of github.com/go-acme/lego/v4 linked in.
	Lego string `json:"lego"`
	// Modules are the modules certctl requires directly and links in (all
	// modules linked in with --all), sorted by path.
	Modules []ModuleVersion `json:"modules"`
}

// ModuleVersion is one module of [VersionInfo].
type ModuleVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Replace is the module that replaces it, if any ("path version" or a
	// directory).
	Replace string `json:"replace,omitempty"`
}

// legoModule is the module whose version `version` always names.
const legoModule = "github.com/go-acme/lego/v4"

// directModules are the modules go.mod requires directly that are linked
// into the certctl binary (the others are test-only). TestDirectModules keeps
// the list in step with go.mod.
var directModules = []string{
	"github.com/fsnotify/fsnotify",
	legoModule,
	"github.com/miekg/dns",
	"github.com/prometheus/client_golang",
	"github.com/prometheus/client_model",
	"github.com/prometheus/common",
	"github.com/robfig/cron/v3",
	"github.com/spf13/cobra",
	"github.com/spf13/pflag",
	"github.com/wneessen/go-mail",
	"go.etcd.io/bbolt",
	"go.etcd.io/etcd/api/v3",
	"go.etcd.io/etcd/client/v3",
	"go.uber.org/zap",
	"go.yaml.in/yaml/v3",
	"golang.org/x/net",
	"golang.org/x/sync",
	"golang.org/x/sys",
	"golang.org/x/term",
	"golang.org/x/time",
	"google.golang.org/grpc",
	"software.sslmate.com/src/go-pkcs12",
}

// NewCmdVersion returns `certctl version`.
func NewCmdVersion(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of certctl, Go, lego and the modules built in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := buildVersion(g.deps.Version, bi, all)
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, v)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			rev := ""
			if v.Revision != "" {
				rev = " (" + v.Revision
				if v.Modified {
					rev += ", modified"
				}
				rev += ")"
			}
			fmt.Fprintf(tw, "certctl\t%s%s\n", v.Version, rev)
			fmt.Fprintf(tw, "go\t%s %s/%s\n", v.Go, v.OS, v.Arch)
			fmt.Fprintf(tw, "lego\t%s\n", v.Lego)
			for _, m := range v.Modules {
				if m.Path == legoModule {
					continue
				}
				r := ""
				if m.Replace != "" {
					r = " => " + m.Replace
				}
				fmt.Fprintf(tw, "%s\t%s%s\n", m.Path, m.Version, r)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every module linked in, not only those certctl requires directly")
	return cmd
}

// shortVersion is what --version prints: certctl's version as
// `certctl version` reports it, with the same fallbacks when no version was
// set at build time.
func shortVersion(ldVersion string) string {
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(ldVersion, bi, false).Version
}

// buildVersion describes the binary from the version set at build time
// (ldflags; "" or "dev" when none was) and its build information (nil when
// the binary has none).
func buildVersion(ldVersion string, bi *debug.BuildInfo, all bool) VersionInfo {
	v := VersionInfo{Version: ldVersion, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Modules: []ModuleVersion{}}
	if bi == nil {
		if v.Version == "" {
			v.Version = "dev"
		}
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Version == "" || v.Version == "dev" {
		switch mv := bi.Main.Version; {
		case mv != "" && mv != "(devel)":
			v.Version = mv
		case v.Revision != "":
			v.Version = "dev-" + shortRev(v.Revision)
		default:
			v.Version = "dev"
		}
	}
	for _, d := range bi.Deps {
		m := ModuleVersion{Path: d.Path, Version: d.Version}
		if d.Replace != nil {
			m.Replace = strings.TrimSpace(d.Replace.Path + " " + d.Replace.Version)
		}
		if d.Path == legoModule {
			v.Lego = d.Version
			if m.Replace != "" {
				v.Lego += " => " + m.Replace
			}
		}
		if all || slices.Contains(directModules, d.Path) {
			v.Modules = append(v.Modules, m)
		}
	}
	return v
}

// shortRev is the first 12 characters of a revision.
func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}
