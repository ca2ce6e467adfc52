package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/certctl/certctl/renew"
)

// timingsFlag is --timings: whether to report where each result's time went,
// and when the command started (for the wall time of the total).
type timingsFlag struct {
	on_   bool
	start time.Time
}

// addTimingsFlag adds --timings to a command whose results printResults
// prints.
func (g *globals) addTimingsFlag(f *pflag.FlagSet) {
	if g.timings == nil { // one flag value for every command: only one runs
		g.timings = &timingsFlag{start: time.Now()}
	}
	f.BoolVar(&g.timings.on_, "timings", false, "print where each certificate's time went (account, order, validation wait, finalize, store) and the total")
}

func (t *timingsFlag) on() bool { return t != nil && t.on_ }

// timingsJSON is the "timings" object of a result in JSON output: seconds
// per step (see renew.Timings).
type timingsJSON struct {
	Hooks      float64 `json:"hooks_seconds"`
	Account    float64 `json:"account_seconds"`
	Order      float64 `json:"order_seconds"`
	Validation float64 `json:"validation_seconds"`
	Finalize   float64 `json:"finalize_seconds"`
	Store      float64 `json:"store_seconds"`
	Deploy     float64 `json:"deploy_seconds"`
	Total      float64 `json:"total_seconds"`
}

func newTimingsJSON(t renew.Timings) *timingsJSON {
	return &timingsJSON{Hooks: t.Hooks.Seconds(), Account: t.Account.Seconds(), Order: t.Order.Seconds(),
		Validation: t.Validation.Seconds(), Finalize: t.Finalize.Seconds(), Store: t.Store.Seconds(),
		Deploy: t.Deploy.Seconds(), Total: t.Total.Seconds()}
}

// print writes the timings table of rs (the certificates ordered), a sum
// row and the command's wall time, when --timings is on.
func (t *timingsFlag) print(w io.Writer, rs []renew.Result) error {
	if !t.on() {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TIMINGS\tHOOKS\tACCOUNT\tORDER\tVALIDATION\tFINALIZE\tSTORE\tDEPLOY\tTOTAL\t")
	var sum renew.Timings
	n := 0
	for _, r := range rs {
		if r.Action != renew.ActionIssued && r.Action != renew.ActionRenewed && r.Action != renew.ActionFailed {
			continue
		}
		n++
		sum = sum.Add(r.Timings)
		fmt.Fprintln(tw, timingsRow(r.Name, r.Timings))
	}
	if n > 1 {
		fmt.Fprintln(tw, timingsRow("sum", sum))
	}
	fmt.Fprintf(tw, "wall\t\t\t\t\t\t\t\t%s\t\n", ms(time.Since(t.start)))
	return tw.Flush()
}

func timingsRow(name string, t renew.Timings) string {
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", name, ms(t.Hooks), ms(t.Account), ms(t.Order),
		ms(t.Validation), ms(t.Finalize), ms(t.Store), ms(t.Deploy), ms(t.Total))
}

// ms prints d in seconds with millisecond precision.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
