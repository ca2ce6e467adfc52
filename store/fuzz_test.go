package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoding the store
// does on every read (json into Certificate, then validate and the
// accessors readers call) and checks that nothing panics, that Clone is a
// deep copy, and that a record that encodes again decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	rec := &Certificate{Name: "www", Domains: []string{"www.example"}, KeyType: "ec256", Active: 2,
		Versions: []Version{{Seq: 1, CertPEM: []byte("c"), KeyPEM: []byte("k")}, {Seq: 2, Serial: "0a"}},
		Hooks:    Hooks{Deploy: []string{"sh", "-c", "true"}}, Bindings: []FileBinding{{Dir: "/d", ReloadCmd: []string{"x"}}}}
	b, err := json.Marshal(rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{`{}`, `null`, `{"name":"a","active":3}`, `{"versions":[{"seq":1},{"seq":1}],"active":1}`,
		`{"name":"../x"}`, `{"versions":null,"active":-1}`, `{"created":"0000-01-01T00:00:00+01:00"}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := new(Certificate)
		if err := json.Unmarshal(data, c); err != nil {
			return
		}
		_ = c.validate()
		_ = c.ActiveVersion()
		next := c.NextSeq()
		for _, v := range c.Versions {
			_ = v.Fullchain()
			if v.Seq >= next && next > 0 {
				t.Fatalf("NextSeq %d is not above version %d", next, v.Seq)
			}
		}
		cl := c.Clone()
		if !reflect.DeepEqual(cl, c) {
			t.Fatal("Clone differs from the record")
		}
		enc, err := json.Marshal(c)
		if err != nil {
			return // e.g. a time outside years 0-9999: the store never writes one
		}
		again := new(Certificate)
		if err := json.Unmarshal(enc, again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, enc)
		}
		enc2, err := json.Marshal(again)
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("record changes on a second round trip:\n%s\n%s", enc, enc2)
		}
		cl.AddVersion(Version{Seq: cl.NextSeq()})
		if len(cl.Versions) > MaxVersions && len(c.Versions) <= MaxVersions {
			t.Fatalf("AddVersion kept %d versions", len(cl.Versions))
		}
	})
}

// FuzzDecodeShared checks that decodeShared never panics and reports
// malformed or expired values as absent.
func FuzzDecodeShared(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add(append(make([]byte, 16), "value"...))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v []byte) {
		val, rev, ok := decodeShared(v, now)
		if !ok && (val != nil || rev != 0) {
			t.Fatal("a value or revision with ok false")
		}
		if ok && len(val) != len(v)-16 {
			t.Fatalf("value of %d bytes from %d", len(val), len(v))
		}
	})
}
