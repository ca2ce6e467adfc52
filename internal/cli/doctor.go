package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/acme/dnsproviders"
	"github.com/certctl/certctl/internal/portowner"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// The statuses of a doctor check (its JSON "status"). Values are only ever
// added.
const (
	doctorOK   = "ok"
	doctorWarn = "warn"
	doctorFail = "fail"
)

// The checks of `certctl doctor` (its JSON "check"). Values are only ever
// added.
const (
	checkStoreFile = "store"       // the store can be read; its file is not readable by others
	checkLocks     = "store-locks" // the lock directory is not accessible to others
	checkService   = "service"     // the daemon or the timer is active (systemd)
	checkLastRun   = "last-run"    // no certificate is long overdue without an attempt
	checkCA        = "ca"          // the CA's directory answers; its clock agrees with ours
	checkRenewal   = "renewal"     // the certificate is valid and its renewals do not fail
	checkDNS       = "dns"         // the name's A/AAAA records point at this host
	checkDNSProv   = "dns-provider"
	checkPort      = "port"    // the challenge port is free or held by certctl
	checkWebroot   = "webroot" // the web server serves the webroot's challenge files
	checkCAA       = "caa"     // the name's CAA records allow the certificate's CA
)

// overdueGrace is how long past its renewal time a certificate may go
// without an attempt before doctor says nothing renews it: a timer running
// `certctl renew` twice a day with a random delay of up to 12 hours
// (examples/systemd) may take up to a day.
const overdueGrace = 36 * time.Hour

// DoctorCheck is one line of `certctl doctor`, an element of its stable JSON
// (README.md, "certctl doctor"). Fields are only ever added.
type DoctorCheck struct {
	Status string `json:"status"` // ok, warn or fail
	Check  string `json:"check"`  // store, store-locks, service, last-run, ca, renewal, dns, dns-provider, port, webroot, caa
	// Subject is what the check is about: a certificate name, a domain, a
	// CA's directory URL; "" for the host.
	Subject string `json:"subject,omitempty"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// DoctorJSON is the JSON of `certctl doctor`: the worst status and every
// check.
type DoctorJSON struct {
	Status string        `json:"status"`
	Checks []DoctorCheck `json:"checks"`
}

type doctorOptions struct {
	g        *globals
	httpPort int
	httpAddr string
	maxSkew  time.Duration
	service  string
	timer    string
}

// NewCmdDoctor returns `certctl doctor`.
func NewCmdDoctor(g *globals) *cobra.Command {
	o := &doctorOptions{g: g}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check what makes renewals fail in practice: DNS, ports, the CA and its clock, store modes, the daemon",
		Long: "doctor checks, for the host and each managed certificate, what makes unattended renewals fail:\n" +
			"the names' A/AAAA records point at this host (or a dns-01 provider is configured), the challenge\n" +
			"port is free or answered by the webroot's web server, the CA answers and its clock agrees with ours,\n" +
			"the store and its lock directory are not accessible to other users, and the daemon or timer runs.\n" +
			"One line per check: OK, WARN or FAIL, what was found, and the fix. Exit code 1 when a check FAILs.",
		Example: "  certctl doctor\n  certctl doctor --resolver 1.1.1.1:53 -o json",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runDoctor(cmd, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.httpPort, "http-port", 80, "port the CA connects to for http-01, where a webroot's web server is asked (80 but behind a port forward)")
	f.StringVar(&o.httpAddr, "http-addr", "", "the daemon's --http-addr, when it sets one for every certificate (default: each certificate's own)")
	f.DurationVar(&o.maxSkew, "max-skew", 30*time.Second, "warn when this host's clock and the CA's differ by more")
	f.StringVar(&o.service, "service", "certctl.service", "systemd unit of the daemon")
	f.StringVar(&o.timer, "timer", "certctl-renew.timer", "systemd timer that runs certctl renew, the daemon's alternative")
	return cmd
}

// doctor collects the checks of one run.
type doctor struct {
	o      *doctorOptions
	ctx    context.Context
	now    time.Time
	checks []DoctorCheck
	// caaIDs are the "caaIdentities" of each CA directory that answered.
	caaIDs map[string][]string
}

func (d *doctor) add(status, check, subject, detail, fix string) {
	d.checks = append(d.checks, DoctorCheck{Status: status, Check: check, Subject: subject, Detail: detail, Fix: fix})
}

func runDoctor(cmd *cobra.Command, o *doctorOptions) error {
	if o.httpPort < 1 || o.httpPort > 65535 {
		return usagef("--http-port %d: want 1 to 65535", o.httpPort)
	}
	if o.maxSkew <= 0 {
		return usagef("--max-skew %s: want more than 0", o.maxSkew)
	}
	d := &doctor{o: o, ctx: cmd.Context(), now: o.g.deps.Now(), caaIDs: map[string][]string{}}
	certs := d.checkStore()
	d.checkService(len(certs))
	d.checkLastRun(certs)
	d.checkCAs(certs)
	for _, c := range certs {
		d.checkCert(c)
	}

	out := DoctorJSON{Status: doctorOK, Checks: d.checks}
	failed := 0
	for _, c := range d.checks {
		switch c.Status {
		case doctorFail:
			failed++
			out.Status = doctorFail
		case doctorWarn:
			if out.Status == doctorOK {
				out.Status = doctorWarn
			}
		}
	}
	w := cmd.OutOrStdout()
	if o.g.json() {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else if err := printDoctor(w, d.checks); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed (reported above)", failed, len(d.checks))
	}
	return nil
}

// printDoctor writes one line per check: STATUS  CHECK SUBJECT  DETAIL; fix: FIX.
func printDoctor(w io.Writer, checks []DoctorCheck) error {
	// Labels are aligned; a long one (a CA's URL) does not widen the rest.
	const maxWidth = 30
	width := 0
	for _, c := range checks {
		if n := len(label(c)); n <= maxWidth {
			width = max(width, n)
		}
	}
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%-4s  %-*s  %s", strings.ToUpper(c.Status), width, label(c), c.Detail)
		if c.Fix != "" {
			b.WriteString("; fix: " + c.Fix)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func label(c DoctorCheck) string {
	if c.Subject == "" {
		return c.Check
	}
	return c.Check + " " + c.Subject
}

// checkStore checks the store file's and lock directory's modes (before
// opening it, which narrows a broad file mode), then reads its records
// without creating or changing anything.
func (d *doctor) checkStore() []*store.Certificate {
	g := d.o.g
	u := g.storeURL()
	if u == "" {
		u = store.DefaultPath()
	}
	if isEtcdURL(u) {
		certs, loc, err := g.readStoreForCheck(d.ctx)
		if err != nil {
			d.add(doctorFail, checkStoreFile, "", loc+": "+oneLine(err), explain(err).hint)
			return nil
		}
		d.add(doctorOK, checkStoreFile, "", fmt.Sprintf("%s: %s", loc, plural(len(certs), "certificate")), "")
		return certs
	}
	path, err := filepath.Abs(strings.TrimPrefix(u, "file://"))
	if err != nil {
		d.add(doctorFail, checkStoreFile, "", oneLine(err), "")
		return nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add(doctorFail, checkStoreFile, "", path+" does not exist",
			"give the store the daemon uses (--store or CERTCTL_STORE), or issue a first certificate: certctl issue -d NAME --agree-tos")
		return nil
	case err != nil:
		d.add(doctorFail, checkStoreFile, "", oneLine(err), "")
		return nil
	}
	broad := fi.Mode().Perm()&0o077 != 0
	// The lock directory as it was before the store was opened, reported
	// after the store.
	defer d.checkLockDir(path + ".locks")

	certs, _, err := g.readStoreForCheck(d.ctx)
	if err != nil {
		d.add(doctorFail, checkStoreFile, "", oneLine(err), explain(err).hint)
		return nil
	}
	if broad {
		detail := fmt.Sprintf("%s has mode %04o: other users can read the private keys in it", path, fi.Mode().Perm())
		if now, err := os.Stat(path); err == nil && now.Mode().Perm()&0o077 == 0 {
			detail += fmt.Sprintf(" (opening it just narrowed it to %04o, as certctl does, but they could until now)", now.Mode().Perm())
		}
		d.add(doctorFail, checkStoreFile, "", detail, "chmod 600 "+path+" and find what widened it (a restored backup, a copy made "+
			"with another umask); if other users could log in here, replace the keys: certctl renew --all --force")
	} else {
		d.add(doctorOK, checkStoreFile, "", fmt.Sprintf("%s: mode %04o, %s", path, fi.Mode().Perm(), plural(len(certs), "certificate")), "")
	}
	return certs
}

// checkLockDir checks the store's lock directory.
func (d *doctor) checkLockDir(dir string) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add(doctorOK, checkLocks, "", dir+" does not exist yet (it is made 0700 when first needed)", "")
	case err != nil:
		d.add(doctorFail, checkLocks, "", oneLine(err), "")
	case !fi.IsDir():
		d.add(doctorFail, checkLocks, "", dir+" is not a directory (a symbolic link, a file): certctl refuses it",
			"remove it; certctl makes the directory when it needs it")
	case fi.Mode().Perm()&0o077 != 0:
		d.add(doctorFail, checkLocks, "", fmt.Sprintf("%s has mode %04o: other users can reach the lock files", dir, fi.Mode().Perm()),
			"chmod 700 "+dir)
	default:
		d.add(doctorOK, checkLocks, "", fmt.Sprintf("%s: mode %04o", dir, fi.Mode().Perm()), "")
	}
}

// systemctl runs systemctl through Deps.Systemctl or the system's.
func (d *doctor) systemctl(args ...string) (string, error) {
	if f := d.o.g.deps.Systemctl; f != nil {
		return f(d.ctx, args...)
	}
	bin, err := exec.LookPath("systemctl")
	if err != nil {
		return "", exec.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return string(out), err
}

// plural is "1 certificate", "2 certificates".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkService asks systemd whether the daemon or the timer is active, and
// when the timer last ran.
func (d *doctor) checkService(ncerts int) {
	svc, tmr := d.o.service, d.o.timer
	out, err := d.systemctl("is-active", svc, tmr)
	if errors.Is(err, exec.ErrNotFound) {
		d.add(doctorWarn, checkService, "", "no systemctl on this host: doctor cannot tell whether the daemon or a timer runs",
			"run certctl daemon under the service manager, or certctl renew from cron twice a day")
		return
	}
	// is-active prints one state per unit and exits non-zero unless all
	// are active: its output is the answer.
	states := strings.Fields(out)
	if len(states) != 2 {
		why := fmt.Sprintf("%q", strings.TrimSpace(out))
		if err != nil {
			why = oneLine(err)
		}
		d.add(doctorWarn, checkService, "", fmt.Sprintf("systemctl gave no answer (%s): doctor cannot tell whether %s or %s runs", why, svc, tmr),
			"where systemd does not run, run certctl daemon under the service manager, or certctl renew from cron twice a day")
		return
	}
	switch {
	case states[0] == "active":
		d.add(doctorOK, checkService, "", svc+" is active", "")
	case states[1] == "active":
		d.checkTimer(tmr)
	case states[0] == "failed":
		d.add(doctorFail, checkService, "", svc+" has failed", "journalctl -u "+svc+" shows why; then systemctl restart "+svc)
	default:
		st := doctorFail
		if ncerts == 0 {
			st = doctorWarn
		}
		d.add(st, checkService, "", fmt.Sprintf("neither %s (%s) nor %s (%s) is active: nothing renews the certificates", svc, states[0], tmr, states[1]),
			"systemctl enable --now "+svc+" (or the timer; see examples/systemd)")
	}
}

// checkTimer reports when an active timer last triggered.
func (d *doctor) checkTimer(tmr string) {
	out, _ := d.systemctl("show", tmr, "--property=LastTriggerUSec", "--value")
	s := strings.TrimSpace(out)
	last, err := time.Parse("Mon 2006-01-02 15:04:05 MST", s)
	switch {
	case s == "" || s == "n/a" || s == "0":
		d.add(doctorWarn, checkService, "", tmr+" is active but has not run yet", "systemctl start "+strings.TrimSuffix(tmr, ".timer")+".service runs it now")
	case err != nil:
		d.add(doctorOK, checkService, "", fmt.Sprintf("%s is active (last ran %s)", tmr, s), "")
	case d.now.Sub(last) > overdueGrace:
		d.add(doctorWarn, checkService, "", fmt.Sprintf("%s is active but last ran %s, %s ago", tmr, fmtTime(last), humanDuration(d.now.Sub(last))),
			"systemctl list-timers "+tmr+"; journalctl -u "+strings.TrimSuffix(tmr, ".timer")+".service")
	default:
		d.add(doctorOK, checkService, "", fmt.Sprintf("%s is active, last ran %s", tmr, fmtTime(last)), "")
	}
}

// checkLastRun looks in the store for certificates long past their renewal
// time without an attempt. The store records renewal attempts, not the
// daemon's scans (a scan that finds nothing due leaves no trace), so the
// newest attempt is shown for information only.
func (d *doctor) checkLastRun(certs []*store.Certificate) {
	if len(certs) == 0 {
		return
	}
	var newest time.Time
	newestName := ""
	var overdue []string
	for _, c := range certs {
		if c.Renewal.LastAttempt.After(newest) {
			newest, newestName = c.Renewal.LastAttempt, c.Name
		}
		at := renew.Policy{}.Decide(c, d.now).At
		if !at.IsZero() && at.Before(d.now.Add(-overdueGrace)) && c.Renewal.LastAttempt.Before(at) {
			overdue = append(overdue, fmt.Sprintf("%s (due %s)", c.Name, fmtTime(at)))
		}
	}
	last := "no renewal attempt recorded yet"
	if !newest.IsZero() {
		last = fmt.Sprintf("newest renewal attempt %s (%s)", fmtTime(newest), newestName)
	}
	if len(overdue) > 0 {
		d.add(doctorFail, checkLastRun, "", fmt.Sprintf("%s due since more than %s without an attempt: %s; %s",
			plural(len(overdue), "certificate"), humanDuration(overdueGrace), strings.Join(overdue, ", "), last),
			"start the daemon or the timer, and make it use this store (--store or CERTCTL_STORE)")
		return
	}
	d.add(doctorOK, checkLastRun, "", "no certificate overdue; "+last+" (the store records attempts, not the daemon's scans)", "")
}

// checkCAs checks each CA the certificates use (or --directory when there
// are none): its directory answers, and the Date of its answer agrees with
// this host's clock.
func (d *doctor) checkCAs(certs []*store.Certificate) {
	var dirs []string
	for _, c := range certs {
		if c.Directory != "" && !slices.Contains(dirs, c.Directory) {
			dirs = append(dirs, c.Directory)
		}
	}
	if len(dirs) == 0 {
		dir, err := d.o.g.directoryURL()
		if err != nil {
			d.add(doctorFail, checkCA, d.o.g.directory, oneLine(err), "")
			return
		}
		dirs = []string{dir}
	}
	hc, err := d.o.g.httpClient()
	if err != nil {
		d.add(doctorFail, checkCA, "", oneLine(err), "")
		return
	}
	for _, dir := range dirs {
		d.checkCA(hc, dir)
	}
}

func (d *doctor) checkCA(hc *http.Client, dir string) {
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dir, nil)
	if err != nil {
		d.add(doctorFail, checkCA, dir, oneLine(err), "")
		return
	}
	clock := d.o.g.deps.Now
	start := time.Now()
	t0 := clock()
	resp, err := hc.Do(req)
	if err != nil {
		d.add(doctorFail, checkCA, dir, "unreachable: "+oneLine(err), explain(&acme.UnreachableError{Directory: dir, Err: err}).hint)
		return
	}
	var body struct {
		Meta struct {
			CAAIdentities []string `json:"caaIdentities"`
		} `json:"meta"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d.caaIDs[dir] = body.Meta.CAAIdentities
	rtt := time.Since(start)
	ours := t0.Add(clock().Sub(t0) / 2)
	if resp.StatusCode != http.StatusOK {
		d.add(doctorFail, checkCA, dir, fmt.Sprintf("the directory answered HTTP %d", resp.StatusCode), "check --directory")
		return
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.add(doctorWarn, checkCA, dir, fmt.Sprintf("reachable (%s), but its answer has no Date: clocks not compared", rtt.Round(time.Millisecond)), "")
		return
	}
	// The Date has whole seconds (the CA's time was in [date, date+1s)):
	// compare with the middle of that second; a second of skew is noise.
	skew := ours.Sub(date.Add(time.Second / 2)).Round(time.Second)
	abs := skew.Abs()
	if abs > d.o.maxSkew {
		way := "ahead of"
		if skew < 0 {
			way = "behind"
		}
		d.add(doctorWarn, checkCA, dir, fmt.Sprintf("reachable, but this host's clock is %s %s the CA's (%s there)", abs, way, fmtTime(date)),
			"synchronize the clock (timedatectl set-ntp true, chrony): renewal times and validity checks follow it")
		return
	}
	d.add(doctorOK, checkCA, dir, fmt.Sprintf("reachable (%s); clocks agree within %s", rtt.Round(time.Millisecond), max(abs, time.Second)), "")
}

// checkCert checks one certificate: its state, then what its challenge
// needs.
func (d *doctor) checkCert(c *store.Certificate) {
	v := c.ActiveVersion()
	dec := renew.Policy{}.Decide(c, d.now)
	switch {
	case v != nil && !v.NotAfter.After(d.now):
		d.add(doctorFail, checkRenewal, c.Name, "expired "+fmtTime(v.NotAfter), "certctl renew "+c.Name+" --force (the lines below say what stands in the way)")
	case c.Renewal.Attempts > 0:
		d.add(doctorWarn, checkRenewal, c.Name, fmt.Sprintf("%d failed attempts, the last %s: %s", c.Renewal.Attempts,
			fmtTime(c.Renewal.LastAttempt), c.Renewal.LastError), "certctl renew "+c.Name+" retries and explains the failure")
	case c.Renewal.DeployError != "":
		d.add(doctorWarn, checkRenewal, c.Name, "the active version could not be deployed: "+c.Renewal.DeployError,
			"fix the file binding or reload command, then certctl configure "+c.Name+" --deploy")
	case v == nil:
		d.add(doctorWarn, checkRenewal, c.Name, "no certificate issued yet", "certctl renew "+c.Name)
	default:
		d.add(doctorOK, checkRenewal, c.Name, fmt.Sprintf("valid until %s; renewal %s (%s)", fmtTime(v.NotAfter), fmtTime(dec.At), dec.Reason), "")
	}

	for _, dom := range c.Domains {
		d.checkCAA(c, dom)
	}
	wildcard := slices.ContainsFunc(c.Domains, func(s string) bool { return strings.HasPrefix(s, "*.") })
	switch c.Challenge.Type {
	case acme.DNS01:
		d.checkDNSProvider(c)
		return
	case acme.TLSALPN01:
		for _, dom := range c.Domains {
			d.checkName(dom, c.Challenge.TLSAddr, "443")
		}
		d.checkPortFree(c.Name, orDefault(c.Challenge.TLSAddr, ":443"))
		return
	}
	if wildcard {
		d.add(doctorFail, checkDNSProv, c.Name, "a wildcard name needs dns-01, but the certificate uses "+orDefault(c.Challenge.Type, acme.HTTP01),
			"certctl issue with --dns PROVIDER")
	}
	httpAddr := c.Challenge.HTTPAddr
	if d.o.httpAddr != "" {
		httpAddr = d.o.httpAddr
	}
	var lookups []*acme.Lookup
	for _, dom := range c.Domains {
		if !strings.HasPrefix(dom, "*.") {
			lookups = append(lookups, d.checkName(dom, httpAddr, strconv.Itoa(d.o.httpPort)))
		}
	}
	if c.Challenge.Webroot != "" {
		d.checkWebroot(c, lookups)
		return
	}
	d.checkPortFree(c.Name, orDefault(httpAddr, ":80"))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkCAA checks that the CAA records governing domain, if it has any,
// allow the certificate's CA. Names without CAA records give no line.
func (d *doctor) checkCAA(c *store.Certificate, domain string) {
	resolvers := d.o.g.resolverList()
	if len(resolvers) == 0 {
		return
	}
	l := acme.LookupCAA(d.ctx, resolvers, domain)
	l.CAAIdentities = d.caaIDs[c.Directory]
	switch {
	case l.Err != nil:
		d.add(doctorWarn, checkCAA, domain, "CAA records not looked up: "+oneLine(l.Err), "")
		return
	case len(l.CAA) == 0:
		return
	}
	recs := fmt.Sprintf("the CAA records of %s (%s)", l.CAAName, strings.Join(l.CAA, ", "))
	allowed, known := l.AllowsCA(strings.HasPrefix(domain, "*."))
	switch {
	case !known:
		d.add(doctorOK, checkCAA, domain, recs+" restrict issuance; the CA names no identities (caaIdentities) to compare them with", "")
	case allowed:
		d.add(doctorOK, checkCAA, domain, recs+" allow "+strings.Join(l.CAAIdentities, ", "), "")
	default:
		want := "one that names the CA"
		if len(l.CAAIdentities) > 0 {
			want = fmt.Sprintf(`0 issue "%s"`, l.CAAIdentities[0])
		}
		d.add(doctorFail, checkCAA, domain, recs+" do not allow this CA: the renewal will be refused", "add "+want+" to them")
	}
}

// checkDNSProvider checks that a dns-01 certificate's provider can be made
// from this environment.
func (d *doctor) checkDNSProvider(c *store.Certificate) {
	p := c.Challenge.DNSProvider
	if p == "" {
		d.add(doctorFail, checkDNSProv, c.Name, "dns-01 without a DNS provider", "certctl issue -d NAME --dns PROVIDER --force")
		return
	}
	if _, err := dnsproviders.Lookup(p); err != nil {
		fix := "set the provider's variables (see lego's documentation of " + p + ") where certctl runs: in the unit's Environment= or EnvironmentFile="
		if errors.Is(err, acme.ErrUnknownDNSProvider) {
			fix = "certctl issue -d NAME --dns PROVIDER --force with one of lego's provider names"
		}
		d.add(doctorFail, checkDNSProv, c.Name, oneLine(err), fix)
		return
	}
	d.add(doctorOK, checkDNSProv, c.Name, "dns-01 through "+p+": its settings are present in this environment (the daemon's may differ)", "")
}

// checkName checks that domain's A/AAAA records point at this host (or at
// listen, where the responder listens), and returns what it found (nil
// without resolvers).
func (d *doctor) checkName(domain, listen, port string) *acme.Lookup {
	resolvers := d.o.g.resolverList()
	if len(resolvers) == 0 {
		d.add(doctorWarn, checkDNS, domain, "no DNS resolver to ask (no /etc/resolv.conf)", "give --resolver HOST:53")
		return nil
	}
	l := acme.LookupName(d.ctx, resolvers, domain, listen)
	switch {
	case l.Err != nil:
		d.add(doctorFail, checkDNS, domain, fmt.Sprintf("no answer from %s: %s", strings.Join(resolvers, ", "), oneLine(l.Err)),
			"check the zone's nameservers, or ask other resolvers with --resolver")
	case l.NoRecords():
		d.add(doctorFail, checkDNS, domain, domain+" has no A or AAAA record",
			fmt.Sprintf("add one with this host's address (%s), or use dns-01 (--dns PROVIDER)", addrList(l.Host, maxHostAddrs)))
	case !l.Here():
		here := "this host's addresses (" + addrList(l.Host, maxHostAddrs) + ")"
		if l.Listen.IsValid() {
			here = fmt.Sprintf("%s, where the responder listens", l.Listen)
		}
		d.add(doctorWarn, checkDNS, domain, fmt.Sprintf("resolves to %s, not to %s", addrList(l.Addrs, 0), here),
			fmt.Sprintf("point its A/AAAA records here, or make sure port %s of that address is forwarded to this host (NAT, load balancer)", port))
	default:
		d.add(doctorOK, checkDNS, domain, "resolves to "+addrList(l.Addrs, 0)+", this host", "")
	}
	return l
}

// checkPortFree checks that certctl's responder can listen on addr: the
// port is free, or held by a certctl process (whose responder answers for
// every certctl on the host).
func (d *doctor) checkPortFree(name, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		_ = ln.Close()
		d.add(doctorOK, checkPort, name, addr+" is free for certctl's responder", "")
		return
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		d.add(doctorWarn, checkPort, name, "this user may not listen on "+addr+" (the daemon may: as root or with CAP_NET_BIND_SERVICE, as in examples/systemd)",
			explain(acme.ErrPortPrivileged).hint)
		return
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		d.add(doctorFail, checkPort, name, fmt.Sprintf("cannot listen on %s: %s", addr, oneLine(err)), "")
		return
	}
	busy := &acme.PortBusyError{Addr: addr, Err: err}
	if pid, proc, ok := portowner.Lookup(addr); ok {
		busy.PID, busy.Process = pid, proc
		if pid != os.Getpid() && (proc == "certctl" || portowner.SameExecutable(pid)) {
			d.add(doctorOK, checkPort, name, fmt.Sprintf("%s is held by certctl (pid %d), whose responder answers challenges", addr, pid), "")
			return
		}
	}
	d.add(doctorFail, checkPort, name, busy.Error(), explain(busy).hint)
}

// checkWebroot puts a file in the webroot's challenge directory and asks
// the web server for it, on --http-port of the first address of this host
// the names resolve to (127.0.0.1 if none), as the CA will for each name.
func (d *doctor) checkWebroot(c *store.Certificate, lookups []*acme.Lookup) {
	root := c.Challenge.Webroot
	dir := filepath.Join(root, ".well-known", "acme-challenge")
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		d.add(doctorFail, checkWebroot, c.Name, "the webroot "+root+" is not a directory", "create it, or configure the web server's document root")
		return
	}
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	token := "certctl-doctor-" + hex.EncodeToString(rb[:])
	content := "certctl doctor " + hex.EncodeToString(rb[:])
	file := filepath.Join(dir, token)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.add(doctorFail, checkWebroot, c.Name, oneLine(err), "let certctl's user write to "+dir)
		return
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		d.add(doctorFail, checkWebroot, c.Name, oneLine(err), "let certctl's user write to "+dir)
		return
	}
	defer os.Remove(file)

	host := "127.0.0.1"
find:
	for _, l := range lookups {
		if l == nil {
			continue
		}
		for _, a := range l.Addrs {
			if slices.Contains(l.Host, a) {
				host = a.String()
				break find
			}
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, dom := range c.Domains {
		if strings.HasPrefix(dom, "*.") {
			continue
		}
		u := "http://" + net.JoinHostPort(host, strconv.Itoa(d.o.httpPort)) + "/.well-known/acme-challenge/" + token
		got, err := fetchAs(d.ctx, hc, u, dom)
		shown := "http://" + dom + portSuffix(d.o.httpPort) + "/.well-known/acme-challenge/" + token + " (asked at " + host + ")"
		switch {
		case err != nil:
			d.add(doctorFail, checkWebroot, dom, shown+": "+oneLine(err),
				fmt.Sprintf("run the web server that serves %s on port %d", root, d.o.httpPort))
		case got != content:
			d.add(doctorFail, checkWebroot, dom, shown+" did not return the file doctor wrote to "+dir,
				fmt.Sprintf("make the web server for %s serve %s at /.well-known/acme-challenge/", dom, root))
		default:
			d.add(doctorOK, checkWebroot, dom, fmt.Sprintf("the web server on port %d serves %s for %s", d.o.httpPort, root, dom), "")
		}
	}
}

// fetchAs GETs u with Host header host and returns its body (status 200
// only).
func fetchAs(ctx context.Context, hc *http.Client, u, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), nil
}

func portSuffix(p int) string {
	if p == 80 {
		return ""
	}
	return ":" + strconv.Itoa(p)
}
