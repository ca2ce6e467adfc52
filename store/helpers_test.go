package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// t0 is a fixed UTC instant used by the tests.
var t0 = time.Date(2026, 11, 3, 10, 0, 0, 123456789, time.UTC)

// openTest opens a new store in a temporary directory.
func openTest(t testing.TB, opts *Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "certctl.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// fixedClock returns an Options.Now that always answers tm.
func fixedClock(tm time.Time) func() time.Time { return func() time.Time { return tm } }

// testVersion returns a version with every field set.
func testVersion(seq int) Version {
	return Version{
		Seq:          seq,
		Serial:       fmt.Sprintf("0a%02x", seq),
		CertPEM:      []byte(fmt.Sprintf("-----BEGIN CERTIFICATE-----\nleaf%d\n-----END CERTIFICATE-----\n", seq)),
		ChainPEM:     []byte("-----BEGIN CERTIFICATE-----\nissuer\n-----END CERTIFICATE-----\n"),
		KeyPEM:       []byte(fmt.Sprintf("-----BEGIN EC PRIVATE KEY-----\nkey%d\n-----END EC PRIVATE KEY-----\n", seq)),
		NotBefore:    t0.Add(time.Duration(seq) * time.Hour),
		NotAfter:     t0.Add(time.Duration(seq)*time.Hour + 90*24*time.Hour),
		Issued:       t0.Add(time.Duration(seq)*time.Hour + time.Minute),
		CertURL:      fmt.Sprintf("https://127.0.0.1:14000/certZ/%d", seq),
		Revoked:      true,
		RevokedAt:    t0.Add(48 * time.Hour),
		RevokeReason: 4,
		Replaces:     "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
	}
}

// fullCert returns a certificate with every field set (checked by
// requireAllSet), Revision excepted.
func fullCert(name string) *Certificate {
	return &Certificate{
		Name:    name,
		Domains: []string{name, "www." + name, "xn--bcher-kva.example"},
		KeyType: "ec384",
		Challenge: Challenge{
			Type:         "dns-01",
			HTTPAddr:     "127.0.0.1:5002",
			Webroot:      "/srv/www",
			DNSProvider:  "exec",
			DNSResolvers: []string{"127.0.0.1:8053", "[::1]:8053"},
			TLSAddr:      "127.0.0.1:5001",
		},
		Directory:      "https://127.0.0.1:14000/dir",
		Email:          "ops@example.com",
		Profile:        "shortlived",
		PreferredChain: "Root X2",
		ReuseKey:       true,
		CSR:            []byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"),
		Hooks: Hooks{
			Pre:     []string{"/bin/true", "pre"},
			Deploy:  []string{"/usr/sbin/nginx", "-s", "reload"},
			Post:    []string{"post"},
			Failure: []string{"/usr/local/bin/page", "--on-call"},
		},
		Bindings: []FileBinding{{
			Dir:             "/etc/ssl/certctl/" + name,
			PFX:             "/etc/ssl/" + name + ".pfx",
			PFXPasswordFile: "/etc/ssl/pfx.pass",
			PFXPasswordEnv:  "PFX_PASS",
			PFXLegacy:       true,
			ReloadCmd:       []string{"systemctl", "reload", "haproxy"},
		}},
		Active:   2,
		Versions: []Version{testVersion(1), testVersion(2)},
		ARI: ARIState{
			WindowStart:    t0.Add(60 * 24 * time.Hour),
			WindowEnd:      t0.Add(62 * 24 * time.Hour),
			Chosen:         t0.Add(61 * 24 * time.Hour),
			RetryAfter:     t0.Add(6 * time.Hour),
			Fetched:        t0.Add(time.Minute),
			ExplanationURL: "https://127.0.0.1/ari-explained",
			CertID:         "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF",
		},
		Renewal: RenewalState{
			Next:        t0.Add(61 * 24 * time.Hour),
			Reason:      "ari window",
			Attempts:    2,
			LastError:   "rate limited",
			LastAttempt: t0.Add(-time.Hour),
			LastSuccess: t0.Add(-24 * time.Hour),
			DeployError: "reload: exit status 1",
		},
		Created: t0.Add(-30 * 24 * time.Hour),
		Updated: t0.Add(-time.Hour),
	}
}

// requireAllSet fails if any field reachable from v is a zero value, so that a
// round-trip test cannot silently miss a field added later. skip names fields
// (by Go name) that may be zero.
func requireAllSet(t *testing.T, v any, skip ...string) {
	t.Helper()
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			walk(path, v.Elem())
			return
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				break
			}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				// Unexported fields are caches; SealedKey is set only
				// instead of KeyPEM (seal_test.go covers it).
				if !f.IsExported() || f.Name == "SealedKey" || contains(skip, f.Name) {
					continue
				}
				walk(path+"."+f.Name, v.Field(i))
			}
			return
		case reflect.Slice:
			if v.Len() == 0 {
				t.Errorf("%s is empty: the test data must set every field", path)
			}
			if v.Type().Elem().Kind() == reflect.Struct {
				for i := range v.Len() {
					walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
				}
			}
			return
		}
		if v.IsZero() {
			t.Errorf("%s is zero: the test data must set every field", path)
		}
	}
	walk(reflect.TypeOf(v).String(), reflect.ValueOf(v))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mustPut writes c and fails the test on error.
func mustPut(t testing.TB, db *DB, c *Certificate) {
	t.Helper()
	if err := db.Put(context.Background(), c); err != nil {
		t.Fatalf("Put(%s): %v", c.Name, err)
	}
}

// names returns the names of certs in order.
func names(certs []*Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = c.Name
	}
	return out
}
