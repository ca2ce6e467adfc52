package acmetest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/registration"
	"github.com/miekg/dns"
)

func get(t *testing.T, s *Server, url string) []byte {
	t.Helper()
	resp, err := s.HTTPClient().Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return body
}

func TestServer_Start_ServesDirectoryAndManagement(t *testing.T) {
	s := StartT(t, Options{})

	if !strings.HasPrefix(s.DirectoryURL(), "https://127.0.0.1:") || !strings.HasSuffix(s.DirectoryURL(), "/dir") {
		t.Errorf("DirectoryURL = %q", s.DirectoryURL())
	}
	var dir map[string]any
	if err := json.Unmarshal(get(t, s, s.DirectoryURL()), &dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder", "renewalInfo"} {
		if _, ok := dir[k]; !ok {
			t.Errorf("directory lacks %q: %v", k, dir)
		}
	}
	meta, _ := dir["meta"].(map[string]any)
	profiles, _ := meta["profiles"].(map[string]any)
	if _, ok := profiles[DefaultProfile]; !ok || len(profiles) != 1 {
		t.Errorf("profiles = %v, want only %q", profiles, DefaultProfile)
	}

	root, err := s.RootPEM()
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, s.ManagementURL()+"/roots/0"); !bytes.Equal(got, root) {
		t.Errorf("RootPEM differs from /roots/0")
	}
	inter, err := s.IntermediatePEM()
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, s.ManagementURL()+"/intermediates/0"); !bytes.Equal(got, inter) {
		t.Errorf("IntermediatePEM differs from /intermediates/0")
	}

	// The intermediate chains to Roots.
	block, _ := pem.Decode(inter)
	ic, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := s.Roots()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("intermediate does not chain to Roots: %v", err)
	}

	// ServerCAPEM is what a client needs to trust the endpoint.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.ServerCAPEM()) {
		t.Fatal("ServerCAPEM is not PEM")
	}
	if s.HTTPPort() == 0 || s.TLSPort() == 0 || s.HTTPPort() == s.TLSPort() {
		t.Errorf("ports: http %d tls %d", s.HTTPPort(), s.TLSPort())
	}
}

func TestServer_HTTPClient_UntrustedByDefaultClient(t *testing.T) {
	s := StartT(t, Options{})
	c := &http.Client{Transport: &http.Transport{}}
	resp, err := c.Get(s.DirectoryURL())
	if err == nil {
		resp.Body.Close()
		t.Fatal("a client without ServerCAPEM trusted the endpoint")
	}
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Errorf("err = %v, want x509.UnknownAuthorityError", err)
	}
}

func TestServer_DNSAddr_AnswersLoopbackOnly(t *testing.T) {
	s := StartT(t, Options{})
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	q := func(name string, typ uint16) []dns.RR {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), typ)
		in, _, err := c.Exchange(m, s.DNSAddr())
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return in.Answer
	}
	a := q("anything.example", dns.TypeA)
	if len(a) != 1 || a[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("A = %v, want 127.0.0.1", a)
	}
	if aaaa := q("anything.example", dns.TypeAAAA); len(aaaa) != 0 {
		t.Errorf("AAAA = %v, want none", aaaa)
	}

	s.SetTXT("_acme-challenge.txt.example", "v1")
	s.SetTXT("_acme-challenge.txt.example.", "v2")
	var got []string
	for _, rr := range q("_acme-challenge.txt.example", dns.TypeTXT) {
		got = append(got, rr.(*dns.TXT).Txt...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"v1", "v2"}) {
		t.Errorf("TXT = %v, want [v1 v2]", got)
	}
	s.ClearTXT("_acme-challenge.txt.example")
	if txt := q("_acme-challenge.txt.example", dns.TypeTXT); len(txt) != 0 {
		t.Errorf("TXT after ClearTXT = %v", txt)
	}
}

func TestServer_Obtain_HTTP01(t *testing.T) {
	s := StartT(t, Options{})
	r := startHTTP01(t, s.HTTPPort())
	c := newClient(t, s, r)

	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"a.example"}})
	if err := verifyChain(s, res.Certificate, "a.example"); err != nil {
		t.Fatalf("certificate does not chain to Roots: %v", err)
	}
	leaf := parseChain(t, res.Certificate)[0]
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < DefaultValidity-time.Minute || got > DefaultValidity {
		t.Errorf("validity = %s, want ~%s", got, DefaultValidity)
	}
	if s.Orders() != 1 || s.OrdersWithReplaces() != 0 {
		t.Errorf("Orders = %d, OrdersWithReplaces = %d, want 1, 0", s.Orders(), s.OrdersWithReplaces())
	}
	if ids := s.OrderIdentifiers(); len(ids) != 1 || !slices.Equal(ids[0], []string{"a.example"}) {
		t.Errorf("OrderIdentifiers = %v", ids)
	}
}

func TestServer_Obtain_HTTP01Unanswered(t *testing.T) {
	s := StartT(t, Options{})
	startHTTP01(t, s.HTTPPort()) // answers 404: the provider below records no token
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"fail.example"}})
	if err == nil {
		t.Fatal("obtain succeeded without a challenge response")
	}
	if !strings.Contains(err.Error(), "urn:ietf:params:acme:error:unauthorized") {
		t.Errorf("err = %v, want an unauthorized challenge", err)
	}
}

// The handler answers the challenge POST after validation and the finalize
// POST after issuance, so lego never polls the authorization or the order.
func TestServer_Obtain_NoPolling(t *testing.T) {
	s := StartT(t, Options{})
	r := startHTTP01(t, s.HTTPPort())
	hc, rc := countRequests(s)
	c := newClientWith(t, s, hc)
	if err := c.Challenge.SetHTTP01Provider(r); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"np1.example", "np2.example"}})
	for key, want := range map[string]int{
		"POST /order-plz":       1,
		"POST /chalZ/":          2, // one per identifier, no polling
		"POST /authZ/":          2, // lego's initial fetch only
		"POST /finalize-order/": 1,
		"POST /my-order/":       0, // no order polling after finalize
	} {
		if got := rc.count(key); got != want {
			t.Errorf("%s: %d requests, want %d", key, got, want)
		}
	}
}

func TestServer_Obtain_AuthzReuse(t *testing.T) {
	for _, tc := range []struct {
		reuse, challenges int
	}{{reuse: 0, challenges: 2}, {reuse: 100, challenges: 1}} {
		t.Run(strconv.Itoa(tc.reuse), func(t *testing.T) {
			s := StartT(t, Options{AuthzReuse: tc.reuse, AlwaysValid: true})
			hc, rc := countRequests(s)
			c := newClientWith(t, s, hc)
			if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
				t.Fatal(err)
			}
			first := obtain(t, c, certificate.ObtainRequest{Domains: []string{"reuse.example"}})
			obtain(t, c, certificate.ObtainRequest{Domains: []string{"reuse.example"}})
			if got := rc.count("POST /chalZ/"); got != tc.challenges {
				t.Errorf("challenge requests = %d, want %d", got, tc.challenges)
			}
			// With reuse 0 the first order's authorization was retired by
			// the second newOrder, so not even Pebble's 1-in-100 draw can
			// reuse it; with reuse 100 it is still valid.
			order, err := s.store.GetOrderByIssuedSerial(leafSerialHex(t, first.Certificate))
			if err != nil {
				t.Fatal(err)
			}
			authz := order.AuthorizationObjects[0]
			authz.RLock()
			expired := authz.ExpiresDate.Before(time.Now())
			authz.RUnlock()
			if expired != (tc.reuse == 0) {
				t.Errorf("first authorization expired = %v with reuse %d", expired, tc.reuse)
			}
		})
	}
}

func TestStart_RestoresEnvironment(t *testing.T) {
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "42")
	t.Setenv("PEBBLE_VA_NOSLEEP", "")
	if err := os.Unsetenv("PEBBLE_VA_NOSLEEP"); err != nil {
		t.Fatal(err)
	}
	StartT(t, Options{})
	if got := os.Getenv("PEBBLE_WFE_NONCEREJECT"); got != "42" {
		t.Errorf("PEBBLE_WFE_NONCEREJECT = %q after Start, want 42", got)
	}
	if v, ok := os.LookupEnv("PEBBLE_VA_NOSLEEP"); ok {
		t.Errorf("PEBBLE_VA_NOSLEEP = %q after Start, want unset", v)
	}
}

func TestServer_Obtain_DNS01(t *testing.T) {
	s := StartT(t, Options{})
	c := newClient(t, s, nil)
	err := c.Challenge.SetDNS01Provider(s.DNSProvider(),
		dns01.AddRecursiveNameservers([]string{s.DNSAddr()}),
		dns01.DisableAuthoritativeNssPropagationRequirement())
	if err != nil {
		t.Fatal(err)
	}
	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"d.example", "*.d.example"}})
	if err := verifyChain(s, res.Certificate, "x.d.example"); err != nil {
		t.Fatalf("wildcard certificate does not verify: %v", err)
	}
	if ids := s.OrderIdentifiers(); len(ids) != 1 || len(ids[0]) != 2 {
		t.Errorf("OrderIdentifiers = %v", ids)
	}
}

func TestServer_Obtain_AlwaysValid(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"v.example"}})
	if err := verifyChain(s, res.Certificate, "v.example"); err != nil {
		t.Fatal(err)
	}
}

func TestServer_CertStatus_RevokedAfterRevoke(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"r.example"}})
	serial := parseChain(t, res.Certificate)[0].SerialNumber.Text(16)
	ctx := context.Background()

	status, reason, err := s.CertStatus(ctx, serial)
	if err != nil || status != StatusValid || reason != NoReason {
		t.Fatalf("CertStatus = %q, %d, %v; want Valid", status, reason, err)
	}
	superseded := uint(4)
	if err := c.Certificate.RevokeWithReason(res.Certificate, &superseded); err != nil {
		t.Fatalf("revoking: %v", err)
	}
	status, reason, err = s.CertStatus(ctx, strings.ToUpper(serial))
	if err != nil || status != StatusRevoked || reason != 4 {
		t.Fatalf("CertStatus = %q, %d, %v; want Revoked, 4", status, reason, err)
	}
	if _, _, err := s.CertStatus(ctx, "abcdef0123"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CertStatus(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestServer_SetRenewalInfo_ChangesARIWindow(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"ari.example"}})
	leaf := parseChain(t, res.Certificate)[0]

	before, err := c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := start.Add(30 * time.Minute)
	if before.SuggestedWindow.Start.Equal(start) {
		t.Fatal("default window already equals the forced one")
	}
	if err := s.SetRenewalInfo(context.Background(), res.Certificate, start, end); err != nil {
		t.Fatalf("SetRenewalInfo: %v", err)
	}
	after, err := c.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	if !after.SuggestedWindow.Start.Equal(start) || !after.SuggestedWindow.End.Equal(end) {
		t.Errorf("window = %v - %v, want %v - %v", after.SuggestedWindow.Start, after.SuggestedWindow.End, start, end)
	}
	if at := after.ShouldRenewAt(time.Now(), 0); at == nil {
		t.Error("ShouldRenewAt = nil for a window in the past")
	}

	// A certificate from elsewhere is unknown to the CA.
	foreign := s.ServerCAPEM()
	if err := s.SetRenewalInfo(context.Background(), foreign, start, end); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetRenewalInfo(foreign) err = %v, want ErrNotFound", err)
	}
}

func TestServer_FailNewOrders_RateLimited(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	s.FailNewOrders(1, http.StatusTooManyRequests, 1500*time.Millisecond)
	_, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"rl.example"}})
	var rl *acme.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want *acme.RateLimitedError", err)
	}
	if rl.RetryAfter != "2" {
		t.Errorf("Retry-After = %q, want 2", rl.RetryAfter)
	}
	// Only one order fails.
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"rl.example"}})
	if s.Orders() != 2 {
		t.Errorf("Orders = %d, want 2", s.Orders())
	}
}

func TestServer_FailNewOrders_ServerError(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	s.FailNewOrders(2, http.StatusServiceUnavailable, 0)
	for range 2 {
		_, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"se.example"}})
		var pd *acme.ProblemDetails
		if !errors.As(err, &pd) || pd.HTTPStatus != http.StatusServiceUnavailable || pd.Type != "urn:ietf:params:acme:error:serverInternal" {
			t.Fatalf("err = %v, want 503 serverInternal", err)
		}
	}
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"se.example"}})

	s.FailNewOrders(5, http.StatusServiceUnavailable, 0)
	s.FailNewOrders(0, 0, 0) // cancels
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"se.example"}})
	if s.Orders() != 4 {
		t.Errorf("Orders = %d, want 4", s.Orders())
	}
}

func TestServer_OrdersWithReplaces_CountsARIRenewals(t *testing.T) {
	s := StartT(t, Options{AlwaysValid: true})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	first := obtain(t, c, certificate.ObtainRequest{Domains: []string{"ren.example"}})
	certID, err := certificate.MakeARICertID(parseChain(t, first.Certificate)[0])
	if err != nil {
		t.Fatal(err)
	}
	second := obtain(t, c, certificate.ObtainRequest{Domains: []string{"ren.example"}, ReplacesCertID: certID})
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"other.example"}})

	if s.Orders() != 3 || s.OrdersWithReplaces() != 1 {
		t.Errorf("Orders = %d, OrdersWithReplaces = %d, want 3, 1", s.Orders(), s.OrdersWithReplaces())
	}
	want := [][]string{{"ren.example"}, {"ren.example"}, {"other.example"}}
	if got := s.OrderIdentifiers(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("OrderIdentifiers = %v, want %v", got, want)
	}
	if bytes.Equal(first.Certificate, second.Certificate) {
		t.Error("renewal returned the same certificate")
	}

	// Pebble refuses a second replacement of the same certificate (409
	// alreadyReplaced), which proves the first replacement was fully
	// recorded when finalize answered; lego then retries without replaces.
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"ren.example"}, ReplacesCertID: certID})
	if s.Orders() != 5 || s.OrdersWithReplaces() != 2 {
		t.Errorf("after a second replacement: Orders = %d, OrdersWithReplaces = %d, want 5, 2",
			s.Orders(), s.OrdersWithReplaces())
	}
	if ids := s.OrderIdentifiers(); len(ids) != 5 {
		t.Errorf("OrderIdentifiers = %v", ids)
	}
}

func TestServer_Profiles_DefaultWhenUnnamed(t *testing.T) {
	s := StartT(t, Options{
		AlwaysValid: true,
		Validity:    48 * time.Hour,
		Profiles:    map[string]time.Duration{"short": 10 * time.Minute, "shorter": 90 * time.Second},
	})
	c := newClient(t, s, nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	validity := func(res *certificate.Resource) time.Duration {
		leaf := parseChain(t, res.Certificate)[0]
		return leaf.NotAfter.Sub(leaf.NotBefore).Round(time.Second)
	}
	// Pebble alone would pick one of three profiles at random.
	for range 4 {
		res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"p.example"}})
		if got := validity(res); got != 48*time.Hour-time.Second {
			t.Fatalf("unnamed profile validity = %s, want 48h (minus Pebble's second)", got)
		}
	}
	res := obtain(t, c, certificate.ObtainRequest{Domains: []string{"p.example"}, Profile: "shorter"})
	if got := validity(res); got != 89*time.Second {
		t.Errorf("profile shorter validity = %s, want 89s", got)
	}
}

func TestServer_RequireEAB(t *testing.T) {
	const kid, hmac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	s := StartT(t, Options{RequireEAB: true, EABKeys: map[string]string{kid: hmac}})

	c := newUnregisteredClient(t, s)
	_, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	var pd *acme.ProblemDetails
	if !errors.As(err, &pd) || pd.Type != "urn:ietf:params:acme:error:externalAccountRequired" {
		t.Fatalf("register without EAB err = %v, want externalAccountRequired", err)
	}
	c = newUnregisteredClient(t, s)
	if _, err := c.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
		TermsOfServiceAgreed: true, Kid: kid, HmacEncoded: hmac,
	}); err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
}

func TestServer_TwoServers_Independent(t *testing.T) {
	a := StartT(t, Options{})
	b := StartT(t, Options{})
	if a.DNSAddr() != b.DNSAddr() {
		t.Errorf("DNS servers differ: %s %s", a.DNSAddr(), b.DNSAddr())
	}
	if a.DirectoryURL() == b.DirectoryURL() || a.HTTPPort() == b.HTTPPort() {
		t.Fatal("servers share an address")
	}
	var wg sync.WaitGroup
	results := make([]*certificate.Resource, 2)
	for i, s := range []*Server{a, b} {
		r := startHTTP01(t, s.HTTPPort())
		c := newClient(t, s, r)
		wg.Go(func() {
			res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{"two.example"}, Bundle: true})
			if err != nil {
				t.Errorf("server %d: %v", i, err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := verifyChain(a, results[0].Certificate, "two.example"); err != nil {
		t.Errorf("a's certificate under a's roots: %v", err)
	}
	if err := verifyChain(b, results[0].Certificate, "two.example"); err == nil {
		t.Error("a's certificate verifies under b's roots")
	}
	if err := verifyChain(b, results[1].Certificate, "two.example"); err != nil {
		t.Errorf("b's certificate under b's roots: %v", err)
	}
	if a.Orders() != 1 || b.Orders() != 1 {
		t.Errorf("Orders = %d, %d, want 1, 1", a.Orders(), b.Orders())
	}
}

func TestServer_Obtain_Concurrent(t *testing.T) {
	s := StartT(t, Options{})
	r := startHTTP01(t, s.HTTPPort())
	var wg sync.WaitGroup
	for i := range 6 {
		c := newClient(t, s, r)
		name := string(rune('a'+i)) + ".conc.example"
		wg.Go(func() {
			res, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{name}, Bundle: true})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if err := verifyChain(s, res.Certificate, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	if s.Orders() != 6 {
		t.Errorf("Orders = %d, want 6", s.Orders())
	}
}

func TestServer_Close_StopsServing(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := s.DirectoryURL()
	client := s.HTTPClient()
	s.Close()
	s.Close() // idempotent
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("directory still served after Close")
	}
	if _, _, err := s.CertStatus(context.Background(), "01"); !errors.Is(err, ErrClosed) {
		t.Errorf("CertStatus after Close err = %v, want ErrClosed", err)
	}
}

func TestStart_BadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"nonce reject":     {NonceReject: 101},
		"authz reuse":      {AuthzReuse: -1},
		"negative profile": {Profiles: map[string]time.Duration{"x": -time.Second}},
		"empty profile":    {Profiles: map[string]time.Duration{"": time.Hour}},
		"bad eab key":      {EABKeys: map[string]string{"k": "not base64url!"}},
		"port":             {HTTPPort: 70000},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Start(opts)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, ErrBadOptions) {
				t.Errorf("err = %v, want ErrBadOptions", err)
			}
		})
	}
}

func TestStart_Listen_FixedAddress(t *testing.T) {
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	s := StartT(t, Options{Listen: "127.0.0.1:" + strconv.Itoa(port)})
	if want := "https://127.0.0.1:" + strconv.Itoa(port) + "/dir"; s.DirectoryURL() != want {
		t.Errorf("DirectoryURL = %q, want %q", s.DirectoryURL(), want)
	}
	get(t, s, s.DirectoryURL())
}

func TestServer_Close_StopsGoroutines(t *testing.T) {
	var servers []*Server
	for range 3 {
		s, err := Start(Options{AlwaysValid: true})
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	c := newClient(t, servers[0], nil)
	if err := c.Challenge.SetHTTP01Provider(nopProvider{}); err != nil {
		t.Fatal(err)
	}
	obtain(t, c, certificate.ObtainRequest{Domains: []string{"g.example"}})
	for _, s := range servers {
		s.Close()
	}
	// Goroutines end shortly after their connection closes: poll (bounded)
	// rather than assert at once. The wall clock stays here on purpose: the
	// end of a goroutine is the thing under test, and the runtime signals it
	// by no event, only by its absence from a stack dump.
	leaked := func() []string {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var out []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, frame := range []string{"acmetest.(*Server)", "acmetest.(*handler)",
				"net/http.(*Server).Serve", "net/http.(*conn).serve", "net/http.(*persistConn)"} {
				if strings.Contains(g, frame) {
					out = append(out, g)
					break
				}
			}
		}
		return out
	}
	var left []string
	for range 200 {
		if left = leaked(); len(left) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
}
