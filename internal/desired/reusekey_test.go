package desired

import (
	"strings"
	"testing"
)

func TestParse_ReuseKey(t *testing.T) {
	s, err := Parse("c.yaml", []byte("defaults:\n  reuse-key: true\ncertificates:\n"+
		"  - domains: [a.example]\n  - domains: [b.example]\n    reuse-key: false\n  - domains: [192.0.2.10, '2001:db8::1']\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := []bool{s.Certificates[0].ReuseKey, s.Certificates[1].ReuseKey, s.Certificates[2].ReuseKey}
	if !got[0] || got[1] || !got[2] {
		t.Fatalf("reuse-key = %v, want [true false true]", got)
	}
	if n := s.Certificates[2].Name; n != "192.0.2.10" {
		t.Fatalf("IP certificate named %q", n)
	}
	_, err = Parse("c.yaml", []byte("certificates:\n  - domains: [a.example]\n    reuse-key: yes please\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: certificates[0].reuse-key: want true or false") {
		t.Fatalf("bad reuse-key: %v", err)
	}
	s, err = Parse("c.json", []byte(`{"certificates": [{"domains": ["::1"], "reuse-key": true}]}`))
	if err != nil || !s.Certificates[0].ReuseKey || s.Certificates[0].Name != "__1" {
		t.Fatalf("JSON: %v %+v", err, s)
	}
}
