package store

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/etcdtest"
)

// rsa4096 is one RSA-4096 key for every certificate of the size test:
// sizes depend on the key's length, not on which key it is, and RSA-4096
// generation is slow under -race.
var rsa4096 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 4096) })

// bigCertPEM returns an RSA-4096 certificate signed with an RSA-4096 key,
// with the given names, as PEM.
func bigCertPEM(t *testing.T, cn string, dns []string, ca bool) []byte {
	t.Helper()
	key, err := rsa4096()
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"certctl size test"}, Country: []string{"US"}},
		NotBefore:             t0,
		NotAfter:              t0.Add(90 * 24 * time.Hour),
		DNSNames:              dns,
		IsCA:                  ca,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		OCSPServer:            []string{"http://ocsp.example.com"},
		IssuingCertificateURL: []string{"http://ca.example.com/intermediate.cer"},
		CRLDistributionPoints: []string{"http://crl.example.com/intermediate.crl"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// largestCert is the largest record certctl realistically stores: five
// versions, each an RSA-4096 leaf for 100 names with a chain of three
// RSA-4096 certificates and its RSA-4096 key, plus hooks and bindings.
func largestCert(t *testing.T) *Certificate {
	t.Helper()
	key, err := rsa4096()
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	var domains []string
	for i := range 100 {
		domains = append(domains, fmt.Sprintf("service-%03d.region-eu-west.long-subdomain.example.com", i))
	}
	var chain []byte
	for _, cn := range []string{"Example Issuing CA R7", "Example Intermediate CA X2", "Example Root CA 2026"} {
		chain = append(chain, bigCertPEM(t, cn, nil, true)...)
	}
	c := fullCert(domains[0])
	c.Domains = domains
	c.KeyType = "rsa4096"
	c.Versions = nil
	for seq := 1; seq <= MaxVersions; seq++ {
		v := testVersion(seq)
		v.CertPEM = bigCertPEM(t, domains[0], domains, false)
		v.ChainPEM = chain
		v.KeyPEM = keyPEM
		c.Versions = append(c.Versions, v)
	}
	c.Active = MaxVersions
	return c
}

// The largest realistic record stays well under etcd's request limit
// (1.5 MiB by default), and etcd stores and returns it intact.
func TestEtcd_LargestRecordFits(t *testing.T) {
	c := largestCert(t)
	_, data, err := encodeCert(nil, c, t0)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20
	if len(data) >= limit {
		t.Fatalf("the largest realistic record encodes to %d bytes, want under %d", len(data), limit)
	}
	t.Logf("largest realistic record: %d bytes (%.0f KiB) encoded; %d bytes per version",
		len(data), float64(len(data))/1024, len(data)/MaxVersions)
	// Quota estimate: each record costs its live value plus, until
	// compaction and defragmentation, old revisions and free pages in
	// etcd's bbolt file; count three times the value.
	for _, quota := range []float64{2 << 30, 8 << 30} {
		t.Logf("a %.0f GiB quota holds about %.0f such records (3x the value each)", quota/(1<<30), quota/float64(3*len(data)))
	}

	srv := etcdtest.StartT(t)
	e, _ := openEtcdTest(t, srv, nil)
	ctx := testCtx(t)
	if err := e.Put(ctx, c); err != nil {
		t.Fatalf("Put of the largest record: %v", err)
	}
	got, err := e.Get(ctx, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatal("the largest record did not round-trip through etcd")
	}
}
