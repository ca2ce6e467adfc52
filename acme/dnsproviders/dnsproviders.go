package dnsproviders

import (
	"fmt"
	"strings"

	"github.com/go-acme/lego/v4/providers/dns"

	"github.com/certctl/certctl/acme"
)

func init() { acme.SetDNSProviderLookup(Lookup) }

// Lookup returns lego's DNS provider called name, configured from its
// environment variables. An unknown name gives an error wrapping
// [acme.ErrUnknownDNSProvider]; a known one whose configuration is missing or
// wrong gives lego's error, naming the provider.
func Lookup(name string) (acme.DNSProvider, error) {
	p, err := dns.NewDNSChallengeProviderByName(name)
	if err != nil {
		// lego gives an unknown name no error type of its own (and exports
		// no list of names): its text is all there is.
		if strings.Contains(err.Error(), "unrecognized DNS provider") {
			return nil, fmt.Errorf("DNS provider %q: %w", name, acme.ErrUnknownDNSProvider)
		}
		return nil, fmt.Errorf("DNS provider %s: %w", name, err)
	}
	return p, nil
}
