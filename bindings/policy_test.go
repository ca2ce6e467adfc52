package bindings

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"testing"

	"github.com/certctl/certctl/internal/testpki"
)

// policyBinder serves one certificate for policy.example; rsaKey selects an
// RSA-2048 leaf instead of P-256.
func policyBinder(t *testing.T, rsaKey bool) *Binder {
	t.Helper()
	s := testpki.LeafSpec{Names: []string{"policy.example"}}
	if rsaKey {
		s.Key = testpki.NewRSAKey(t)
	}
	l := issue(t, s)
	b := New(nil)
	mustSet(t, b, "policy", l, nil)
	return b
}

func clientConfig(t *testing.T) *tls.Config {
	return &tls.Config{ServerName: "policy.example", RootCAs: pki(t).root.Pool()}
}

func TestBinder_TLSConfig_ModernRefusesTLS12(t *testing.T) {
	b := policyBinder(t, false)
	srv := testpki.ServeTLS(t, b.TLSConfig(Modern))
	c := clientConfig(t)
	c.MaxVersion = tls.VersionTLS12
	if _, err := srv.Dial(c); err == nil {
		t.Fatal("TLS 1.2 client accepted by Modern")
	}
	cs, err := srv.Dial(clientConfig(t))
	if err != nil || cs.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3 client: version %x, %v", cs.Version, err)
	}
}

func TestBinder_TLSConfig_IntermediateSuites(t *testing.T) {
	tests := []struct {
		name   string
		rsa    bool
		suites []uint16
		ok     bool
	}{
		{"ECDHE-ECDSA AES-GCM", false, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"ECDHE-ECDSA ChaCha20", false, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"ECDHE-RSA AES-GCM", true, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, true},
		{"ECDHE-ECDSA CBC", false, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"ECDHE-RSA CBC", true, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
		{"RSA key exchange GCM", true, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
		{"RSA key exchange 3DES", true, []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := policyBinder(t, tt.rsa)
			c := clientConfig(t)
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = tt.suites

			// Control: a permissive server that allows the suite proves the
			// client really offers it and could connect.
			permissive := b.TLSConfig(Policy{CipherSuites: tt.suites})
			if _, err := testpki.ServeTLS(t, permissive).Dial(c); err != nil {
				t.Fatalf("control server refused the suite: %v", err)
			}

			_, err := testpki.ServeTLS(t, b.TLSConfig(Intermediate)).Dial(c)
			if tt.ok && err != nil {
				t.Fatalf("Intermediate refused %s: %v", tt.name, err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("Intermediate accepted %s", tt.name)
			}
		})
	}
}

func TestPolicy_ZeroValue_IsIntermediate(t *testing.T) {
	b := New(nil)
	zero, inter := b.TLSConfig(Policy{}), b.TLSConfig(Intermediate)
	if zero.MinVersion != tls.VersionTLS12 || inter.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion zero=%x intermediate=%x, want TLS 1.2", zero.MinVersion, inter.MinVersion)
	}
	if !slices.Equal(zero.CipherSuites, inter.CipherSuites) {
		t.Fatalf("suites differ: %v vs %v", zero.CipherSuites, inter.CipherSuites)
	}
	for _, id := range inter.CipherSuites {
		s := tls.CipherSuiteName(id)
		for _, bad := range []string{"CBC", "TLS_RSA_", "3DES", "RC4"} {
			if contains(s, bad) {
				t.Errorf("Intermediate offers %s", s)
			}
		}
	}
	if b.TLSConfig(Policy{MinVersion: tls.VersionTLS10}).MinVersion != tls.VersionTLS12 {
		t.Error("MinVersion below TLS 1.2 not raised")
	}
	// The returned slice is the config's own: changing it leaves the policy alone.
	inter.CipherSuites[0] = tls.TLS_RSA_WITH_RC4_128_SHA
	if b.TLSConfig(Intermediate).CipherSuites[0] == tls.TLS_RSA_WITH_RC4_128_SHA {
		t.Error("TLSConfig shares its suite list between configs")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// clientAuthConfig returns the Intermediate server config of a policyBinder
// with a ClientAuth that trusts client CA A, that ClientAuth, and the client
// CAs A and B.
func clientAuthConfig(t *testing.T) (cfg *tls.Config, ca *ClientAuth, caA, caB *testpki.CA) {
	t.Helper()
	b := policyBinder(t, false)
	caA = testpki.NewRoot(t, "clients A")
	caB = testpki.NewRoot(t, "clients B")
	ca, err := NewClientAuth(caA.PEM())
	if err != nil {
		t.Fatal(err)
	}
	p := Intermediate
	p.ClientAuth = ca
	return b.TLSConfig(p), ca, caA, caB
}

func TestClientAuth_TLSConfig_RequiresClientFromCA(t *testing.T) {
	cfg, ca, caA, caB := clientAuthConfig(t)
	cfg.NextProtos = []string{"h2", "http/1.1"} // set after TLSConfig: must reach the derived configs
	srv := testpki.ServeTLS(t, cfg)
	certA := caA.Issue(t, testpki.LeafSpec{Client: true}).TLS()
	certB := caB.Issue(t, testpki.LeafSpec{Client: true}).TLS()

	withCert := func(c *tls.Certificate) *tls.Config {
		cfg := clientConfig(t)
		cfg.NextProtos = []string{"h2"}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		return cfg
	}
	if _, err := srv.Dial(withCert(nil)); err == nil {
		t.Error("client without certificate accepted")
	}
	if err := srv.Result(t); err == nil {
		t.Error("server accepted a client without certificate")
	}
	if _, err := srv.Dial(withCert(&certB)); err == nil {
		t.Error("client from another CA accepted")
	}
	if err := srv.Result(t); err == nil {
		t.Error("server accepted a client from another CA")
	}
	cs, err := srv.Dial(withCert(&certA))
	if err != nil {
		t.Fatalf("client from the configured CA refused: %v", err)
	}
	if err := srv.Result(t); err != nil {
		t.Fatalf("server refused a client from the configured CA: %v", err)
	}
	if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != "h2" {
		t.Errorf("version %x protocol %q, want TLS 1.3 and h2", cs.Version, cs.NegotiatedProtocol)
	}

	// Reload: now only CA B is trusted, without rebuilding the server.
	if err := ca.SetCAs(caB.PEM()); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Dial(withCert(&certA)); err == nil {
		t.Error("after SetCAs(B), client from A accepted")
	}
	srv.Result(t)
	if _, err := srv.Dial(withCert(&certB)); err != nil {
		t.Errorf("after SetCAs(B), client from B refused: %v", err)
	}
	srv.Result(t)

	// TLS 1.2 clients get the same treatment.
	c12 := withCert(&certA)
	c12.MaxVersion = tls.VersionTLS12
	if _, err := srv.Dial(c12); err == nil {
		t.Error("TLS 1.2 client from A accepted after reload")
	}
	srv.Result(t)
}

func TestClientAuth_SetCAs_RefusesGarbageKeepsOld(t *testing.T) {
	caA := testpki.NewRoot(t, "clients A")
	if _, err := NewClientAuth([]byte("junk")); err == nil {
		t.Fatal("NewClientAuth(junk) succeeded")
	}
	ca, err := NewClientAuth(caA.PEM())
	if err != nil {
		t.Fatal(err)
	}
	before := ca.pool.Load()
	if err := ca.SetCAs(nil); err == nil {
		t.Fatal("SetCAs(nil) succeeded")
	}
	if err := ca.SetCAs([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("SetCAs(corrupt) succeeded")
	}
	if ca.pool.Load() != before {
		t.Fatal("failed SetCAs replaced the pool")
	}
	if _, err := caA.Issue(t, testpki.LeafSpec{Client: true}).Cert.Verify(x509.VerifyOptions{
		Roots: ca.pool.Load(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("pool no longer trusts A: %v", err)
	}
}

func TestClientAuth_TLSConfig_ResumptionAfterReloadRefused(t *testing.T) {
	cfg, ca, caA, caB := clientAuthConfig(t)
	srv := testpki.ServeTLS(t, cfg)
	c := clientConfig(t)
	c.Certificates = []tls.Certificate{caA.Issue(t, testpki.LeafSpec{Client: true}).TLS()}
	c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if _, err := srv.Dial(c); err != nil {
		t.Fatal(err)
	}
	cs, err := srv.Dial(c)
	if err != nil || !cs.DidResume {
		t.Fatalf("second connection: resumed=%v err=%v; want a resumed session", cs.DidResume, err)
	}
	if err := ca.SetCAs(caB.PEM()); err != nil {
		t.Fatal(err)
	}
	if cs, err := srv.Dial(c); err == nil {
		t.Fatalf("after SetCAs(B), client from A accepted (resumed=%v)", cs.DidResume)
	}
}
