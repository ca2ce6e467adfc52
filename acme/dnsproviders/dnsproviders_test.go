package dnsproviders_test

import (
	"errors"
	"testing"

	"github.com/certctl/certctl/acme"
	_ "github.com/certctl/certctl/acme/dnsproviders"
)

func TestImport_InstallsLegoRegistry(t *testing.T) {
	wild := []string{"*.example.com"}
	err := acme.CheckChallenge(acme.Challenge{Type: acme.DNS01, DNSProvider: "no-such-provider"}, wild)
	if !errors.Is(err, acme.ErrBadChallenge) || errors.Is(err, acme.ErrNoDNSRegistry) {
		t.Fatalf("unknown provider: %v, want ErrBadChallenge from the registry", err)
	}
	// "exec" is a lego provider configured by EXEC_PATH.
	t.Setenv("EXEC_PATH", "/bin/true")
	if err := acme.CheckChallenge(acme.Challenge{Type: acme.DNS01, DNSProvider: "exec"}, wild); err != nil {
		t.Fatalf("exec provider: %v", err)
	}
}
