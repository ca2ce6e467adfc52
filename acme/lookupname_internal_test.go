package acme

import "testing"

func TestLookup_AllowsCA_Records(t *testing.T) {
	ids := []string{"ca.example"}
	for _, tc := range []struct {
		name           string
		caa            []string
		ids            []string
		wildcard       bool
		allowed, known bool
	}{
		{"no records", nil, ids, false, true, true},
		{"only iodef", []string{`0 iodef "mailto:x@example.com"`}, ids, false, true, true},
		{"names the CA", []string{`0 issue "other.example"`, `0 issue "CA.example; validationmethods=dns-01"`}, ids, false, true, true},
		{"names another CA", []string{`0 issue "other.example"`}, ids, false, false, true},
		{"forbids every CA", []string{`0 issue ";"`}, ids, false, false, true},
		{"issuewild governs a wildcard", []string{`0 issue "ca.example"`, `0 issuewild "other.example"`}, ids, true, false, true},
		{"issue governs a wildcard without issuewild", []string{`0 issue "ca.example"`}, ids, true, true, true},
		{"issuewild does not govern other names", []string{`0 issuewild ";"`}, ids, false, true, true},
		{"critical unknown tag", []string{`128 tbs "x"`, `0 issue "ca.example"`}, ids, false, false, true},
		{"unknown tag not critical", []string{`0 tbs "x"`, `0 issue "ca.example"`}, ids, false, true, true},
		{"CA without identities", []string{`0 issue "ca.example"`}, nil, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Lookup{CAA: tc.caa, CAAIdentities: tc.ids}
			allowed, known := l.AllowsCA(tc.wildcard)
			if allowed != tc.allowed || known != tc.known {
				t.Fatalf("AllowsCA = %v, %v; want %v, %v", allowed, known, tc.allowed, tc.known)
			}
		})
	}
}
