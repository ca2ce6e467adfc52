package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/internal/desired"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// defaultApplyWorkers is how many certificates `apply` works on at once by
// default: renew's default (see defaultRenewWorkers), for the same reason.
// BenchmarkApplyWorkers (bench/apply_test.go) applies 50 new certificates on
// the project's 2-core machine against Pebble holding each validation 1 s:
// 7.8 s at 8 workers, 4.7 s at 16, 2.7-3.1 s at 32 and 1.9-2.2 s at 64;
// BenchmarkApply1000 applies 1,000 in 35.5 s at 32 and 20.4 s at 64. 32
// meets issue 12's goals (50 within 5 s, 1,000 within 60 s) with margin and
// keeps half as many orders in flight at the CA; --workers 64 is there for
// more.
const defaultApplyWorkers = defaultRenewWorkers

// Actions of apply results besides renew's own.
const (
	actionUpdated renew.Action = "updated"
	actionRemoved renew.Action = "removed"
)

type applyOptions struct {
	g        *globals
	file     string
	dryRun   bool
	prune    bool
	workers  int
	agreeTOS bool

	maxOrdersPerSecond  float64
	maxConcurrentOrders int
}

// NewCmdApply returns `certctl apply`.
func NewCmdApply(g *globals) *cobra.Command {
	o := &applyOptions{g: g}
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Make the store hold the certificates a YAML or JSON file describes",
		Long: "Read a file listing certificates (names, domains, challenge, key type, profile, preferred chain,\n" +
			"file bindings, hooks, with a defaults section), compare it with the store and carry out the plan:\n" +
			"create new certificates, update settings, re-order certificates whose names changed, keep the\n" +
			"others without contacting the CA and, with --prune, remove certificates the file does not list.\n" +
			"A file with unknown keys or bad values is reported line by line and nothing is applied.\n" +
			"Exit code 3 means some of several certificates failed.",
		Example: "  certctl apply -f certificates.yaml --dry-run\n" +
			"  certctl apply -f certificates.yaml --agree-tos --workers 16\n" +
			"  certctl apply -f certificates.json --prune -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runApply(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "the file of certificates (YAML, or JSON when it ends in .json)")
	f.BoolVar(&o.dryRun, "dry-run", false, "show the plan and change nothing")
	f.BoolVar(&o.prune, "prune", false, "remove stored certificates the file does not list (their exported files are kept)")
	f.IntVar(&o.workers, "workers", defaultApplyWorkers, "certificates worked on at once, 1 to 64")
	f.BoolVar(&o.agreeTOS, "agree-tos", false, "agree to the CA's terms of service (needed to register an account)")
	g.addTimingsFlag(f)
	addMaxOrdersFlag(f, &o.maxOrdersPerSecond)
	addMaxConcurrentFlag(f, &o.maxConcurrentOrders)
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runApply(cmd *cobra.Command, o *applyOptions) error {
	if o.workers < 1 || o.workers > 64 {
		return usagef("--workers %d: want 1 to 64", o.workers)
	}
	if err := checkMaxOrders(o.maxOrdersPerSecond); err != nil {
		return err
	}
	if err := checkMaxConcurrent(o.maxConcurrentOrders); err != nil {
		return err
	}
	spec, err := o.g.loadSpec(o.file, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := o.g.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore(db, o.g.logger)
	steps, err := planFor(ctx, db, spec, o.prune)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o.dryRun {
		return printPlan(w, o.g, spec.File, steps)
	}
	svc, err := o.g.service(db, serviceOptions{agreeTOS: o.agreeTOS, workers: o.workers,
		maxOrdersPerSecond: o.maxOrdersPerSecond, maxConcurrentOrders: o.maxConcurrentOrders})
	if err != nil {
		return err
	}
	defer svc.close(ctx)
	rs := carryOut(ctx, svc.Service, steps, o.workers)
	if err := printApplied(w, o.g, spec.File, steps, rs); err != nil {
		return err
	}
	return resultsError(rs, "certificate")
}

// loadSpec reads the file and sets the directory and account email of the
// global flags on each certificate. The problems of a bad file are written
// to errw one per line (file:line: field: problem) and summed up in the
// returned error.
func (g *globals) loadSpec(file string, errw io.Writer) (*desired.Spec, error) {
	if file == "" {
		return nil, usagef("-f FILE: missing")
	}
	spec, err := desired.ReadFile(file)
	if err == nil {
		err = g.fillSpec(spec)
	}
	var es desired.Errors
	switch {
	case errors.As(err, &es):
		if len(es) == 1 {
			return nil, refusef("%s; nothing applied", es[0])
		}
		for _, e := range es {
			fmt.Fprintf(errw, "certctl: %s\n", e)
		}
		return nil, refusef("%s: %d problems (listed above); nothing applied", file, len(es))
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("-f %s: no such file", file)
	case errors.As(err, new(*fs.PathError)):
		return nil, refusef("-f %s: %v", file, errors.Unwrap(err))
	case err != nil:
		return nil, err
	}
	return spec, nil
}

// fillSpec sets the directory and account email of the global flags on each
// of spec's certificates.
func (g *globals) fillSpec(spec *desired.Spec) error {
	if err := checkEmail(g.email); err != nil {
		return err
	}
	dir, err := g.directoryURL()
	if err != nil {
		return err
	}
	for _, c := range spec.Certificates {
		c.Directory, c.Email = dir, g.email
	}
	return nil
}

// planFor compares spec with the store.
func planFor(ctx context.Context, db renew.Store, spec *desired.Spec, prune bool) ([]desired.Step, error) {
	have, err := db.List(ctx)
	if err != nil {
		return nil, err
	}
	return desired.MakePlan(spec.Certificates, have, prune), nil
}

// carryOut runs steps, at most workers at once, and returns one result per
// step in the order of steps. Keep steps touch neither the store nor the CA.
func carryOut(ctx context.Context, svc *renew.Service, steps []desired.Step, workers int) []renew.Result {
	rs := make([]renew.Result, len(steps))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, st := range steps {
		if st.Action == desired.Keep {
			rs[i] = keptResult(svc, st.Have)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer func() {
				if p := recover(); p != nil {
					svc.Logger.Error("apply step panicked", "name", st.Name, "panic", p, "stack", string(debug.Stack()))
					rs[i] = renew.Result{Name: st.Name, Action: renew.ActionFailed, Err: fmt.Errorf("%s: %w: %v", st.Name, renew.ErrPanic, p)}
				}
			}()
			rs[i] = carryOutStep(ctx, svc, st)
		})
	}
	wg.Wait()
	return rs
}

func keptResult(svc *renew.Service, c *store.Certificate) renew.Result {
	r := renew.Result{Name: c.Name, Action: renew.ActionKept, Next: svc.Decide(c)}
	if v := c.ActiveVersion(); v != nil {
		r.Serial, r.NotAfter = v.Serial, v.NotAfter
	}
	return r
}

// carryOutStep makes one certificate match the file. Hooks and bindings are
// set exactly as the file gives them first (Issue alone would keep the ones
// the file dropped); Issue then stores the other settings and orders a
// certificate when there is none or the names changed.
func carryOutStep(ctx context.Context, svc *renew.Service, st desired.Step) renew.Result {
	if st.Action == desired.Remove {
		if _, err := svc.Remove(ctx, st.Name, renew.RemoveOptions{KeepFiles: true}); err != nil {
			return renew.Result{Name: st.Name, Action: renew.ActionFailed, Err: err}
		}
		return renew.Result{Name: st.Name, Action: actionRemoved}
	}
	var deployErr error
	if st.Have != nil && desired.HooksOrBindingsDiffer(st.Have, st.Want) {
		bs := st.Want.Bindings
		if bs == nil {
			bs = []store.FileBinding{}
		}
		_, err := svc.Configure(ctx, st.Name, renew.Settings{ClearHooks: true, Hooks: st.Want.Hooks, Bindings: bs})
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound): // removed meanwhile: Issue creates it
		default:
			c, gerr := svc.Store.Get(ctx, st.Name)
			if gerr != nil || desired.HooksOrBindingsDiffer(c, st.Want) {
				return renew.Result{Name: st.Name, Action: renew.ActionFailed, Err: err}
			}
			deployErr = err // the settings are stored; only deploying them failed
		}
	}
	r := svc.Issue(ctx, st.Want, false)
	if r.Action == renew.ActionKept && st.Action == desired.Update {
		r.Action = actionUpdated
	}
	if r.DeployErr == nil && r.Err == nil {
		r.DeployErr = deployErr
	}
	return r
}

// planStepJSON is the stable JSON form of one step of a plan.
type planStepJSON struct {
	Name    string   `json:"name"`
	Action  string   `json:"action"`
	Domains []string `json:"domains,omitempty"`
	Changes []string `json:"changes,omitempty"`
}

// applyJSON is the stable JSON output of `apply`: the plan, and the results
// unless --dry-run.
type applyJSON struct {
	File    string         `json:"file"`
	DryRun  bool           `json:"dry_run"`
	Plan    []planStepJSON `json:"plan"`
	Results []resultJSON   `json:"results,omitempty"`
}

func planJSON(steps []desired.Step) []planStepJSON {
	out := make([]planStepJSON, 0, len(steps))
	for _, s := range steps {
		j := planStepJSON{Name: s.Name, Action: string(s.Action), Changes: s.Changes}
		switch {
		case s.Want != nil:
			j.Domains = s.Want.Domains
		case s.Have != nil:
			j.Domains = s.Have.Domains
		}
		out = append(out, j)
	}
	return out
}

// planCounts sums steps up: "1 to create, 0 to update, ...".
func planCounts(steps []desired.Step) string {
	n := map[desired.Action]int{}
	for _, s := range steps {
		n[s.Action]++
	}
	return fmt.Sprintf("%d to create, %d to update, %d to re-order, %d to keep, %d to remove",
		n[desired.Create], n[desired.Update], n[desired.Reorder], n[desired.Keep], n[desired.Remove])
}

// printPlan writes the plan as a table or JSON.
func printPlan(w io.Writer, g *globals, file string, steps []desired.Step) error {
	if g.json() {
		return writeJSON(w, applyJSON{File: file, DryRun: true, Plan: planJSON(steps)})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tNAME\tDOMAINS\tCHANGES")
	for _, s := range planJSON(steps) {
		ch := strings.Join(s.Changes, "; ")
		if ch == "" {
			ch = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Action, s.Name, strings.Join(s.Domains, ","), ch)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "plan: %s (dry run: nothing changed)\n", planCounts(steps))
	return err
}

// printApplied writes what apply did: one line per certificate and a
// summary, or JSON.
func printApplied(w io.Writer, g *globals, file string, steps []desired.Step, rs []renew.Result) error {
	if g.json() {
		out := applyJSON{File: file, Plan: planJSON(steps), Results: make([]resultJSON, 0, len(rs))}
		for _, r := range rs {
			j := resultJSONOf(r)
			if g.timings.on() {
				j.Timings = newTimingsJSON(r.Timings)
			}
			out.Results = append(out.Results, j)
		}
		return writeJSON(w, out)
	}
	done := map[desired.Action]int{}
	failed := 0
	for i, r := range rs {
		line := resultLine(r)
		switch r.Action {
		case actionRemoved:
			line = fmt.Sprintf("%-8s %s", "REMOVED", r.Name)
		case actionUpdated:
			line += " (" + strings.Join(steps[i].Changes, "; ") + ")"
		}
		if r.Err != nil {
			failed++
		} else {
			done[steps[i].Action]++
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "%d certificates: %d created, %d updated, %d re-ordered, %d kept, %d removed, %d failed\n", len(rs),
		done[desired.Create], done[desired.Update], done[desired.Reorder], done[desired.Keep], done[desired.Remove], failed); err != nil {
		return err
	}
	return g.timings.print(w, rs)
}
