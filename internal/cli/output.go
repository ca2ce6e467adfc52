package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/certctl/certctl/renew"
)

// resultJSON is the stable JSON form of one issue/renew result.
type resultJSON struct {
	Name          string     `json:"name"`
	Action        string     `json:"action"`
	Serial        string     `json:"serial,omitempty"`
	PrevSerial    string     `json:"previous_serial,omitempty"`
	NotAfter      *time.Time `json:"not_after,omitempty"`
	NextRenewal   *time.Time `json:"next_renewal,omitempty"`
	RenewalReason string     `json:"renewal_reason,omitempty"`
	Error         string     `json:"error,omitempty"`
	DeployError   string     `json:"deploy_error,omitempty"`
	// ErrorKind classifies Error, or DeployError when only the deployment
	// failed (see the kind constants in explain.go); Hint says what to do.
	ErrorKind string `json:"error_kind,omitempty"`
	Hint      string `json:"hint,omitempty"`
	// Timings, with --timings, are where the attempt's time went.
	Timings *timingsJSON `json:"timings,omitempty"`
}

// failureOf returns the kind and hint of a result's failure and the failure
// itself: its error, else its deployment error (nil when it succeeded).
func failureOf(r renew.Result) (explanation, error) {
	switch {
	case r.Err != nil:
		return explain(r.Err), r.Err
	case r.DeployErr != nil:
		x := explain(r.DeployErr)
		if x.kind == kindOther {
			x = explanation{kindDeploy, "the new certificate is stored and active; fix the file binding, reload command or deploy hook, then run certctl configure NAME --deploy"}
		}
		return x, r.DeployErr
	}
	return explanation{}, nil
}

// failureText is the one line that reports err for the certificate called
// name: the hint first, then the error with the CA's own detail.
func failureText(name string, err error) string {
	msg := message(name, err)
	if h := explain(err).hint; h != "" {
		return h + "; cause: " + msg
	}
	return msg
}

// resultsError is the error a command returns after printing rs: nil when
// all succeeded, otherwise a summary that wraps the last failure.
func resultsError(rs []renew.Result, what string) error {
	e := &failedError{total: len(rs), what: what}
	for _, r := range rs {
		if _, err := failureOf(r); err != nil {
			e.failed++
			e.last = err
		}
	}
	if e.failed == 0 {
		return nil
	}
	return e
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printResults writes results as lines (and a summary if summary) or JSON.
func printResults(w io.Writer, g *globals, rs []renew.Result, summary bool) error {
	if g.json() {
		out := make([]resultJSON, 0, len(rs))
		for _, r := range rs {
			j := resultJSONOf(r)
			if g.timings.on() {
				j.Timings = newTimingsJSON(r.Timings)
			}
			out = append(out, j)
		}
		return writeJSON(w, out)
	}
	counts := map[renew.Action]int{}
	for _, r := range rs {
		counts[r.Action]++
		if _, err := fmt.Fprintln(w, resultLine(r)); err != nil {
			return err
		}
	}
	if summary {
		if _, err := fmt.Fprintf(w, "%d certificates: %d renewed, %d issued, %d not due, %d failed\n", len(rs),
			counts[renew.ActionRenewed], counts[renew.ActionIssued], counts[renew.ActionNotDue], counts[renew.ActionFailed]); err != nil {
			return err
		}
	}
	return g.timings.print(w, rs)
}

// resultJSONOf is the JSON form of one result, as printResults writes it.
func resultJSONOf(r renew.Result) resultJSON {
	j := resultJSON{Name: r.Name, Action: string(r.Action), Serial: r.Serial, PrevSerial: r.PrevSerial,
		NotAfter: timePtr(r.NotAfter), NextRenewal: timePtr(r.Next.At), RenewalReason: r.Next.Reason}
	if r.Err != nil {
		j.Error = message(r.Name, r.Err)
	}
	if r.DeployErr != nil {
		j.DeployError = message(r.Name, r.DeployErr)
	}
	if x, _ := failureOf(r); x.kind != "" {
		j.ErrorKind, j.Hint = x.kind, x.hint
	}
	return j
}

// report writes the outcome of a command: v as JSON with --output json,
// otherwise one line of text made from format and args.
func (g *globals) report(w io.Writer, v any, format string, args ...any) error {
	if g.json() {
		return writeJSON(w, v)
	}
	_, err := fmt.Fprintf(w, format+"\n", args...)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanDuration prints a duration as days, hours or minutes.
func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= 2*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	case d >= 2*time.Minute:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if neg {
		return "-" + s
	}
	return s
}
