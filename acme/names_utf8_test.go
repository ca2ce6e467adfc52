package acme_test

import (
	"errors"
	"testing"

	"github.com/certctl/certctl/acme"
)

// Found by FuzzNormalizeDomain: an invalid UTF-8 byte became U+FFFD and then
// the A-label "xn--zn7c", which is not a valid name itself.
func TestNormalizeDomain_InvalidUTF8_Refused(t *testing.T) {
	for _, name := range []string{"0.\x88", "caf\xe9.example", "a.\xff\xfe.example"} {
		if got, err := acme.NormalizeDomain(name); !errors.Is(err, acme.ErrBadDomain) {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrBadDomain", name, got, err)
		}
	}
}
