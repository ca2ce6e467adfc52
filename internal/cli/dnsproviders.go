package cli

// The CLI looks DNS providers up by name (--dns cloudflare), so it links
// lego's whole registry; package acme itself links none.
import _ "github.com/certctl/certctl/acme/dnsproviders"
