// Package dnsproviders links lego's registry of DNS providers (some 180
// providers and their SDKs) into a program and installs it in package acme,
// so that a certificate's dns-01 challenge can name its provider
// ([acme.Challenge].DNSProvider: "cloudflare", "route53", ...), its
// credentials read from lego's environment variables.
//
// Import it for that effect only:
//
//	import _ "github.com/certctl/certctl/acme/dnsproviders"
//
// The certctl CLI does. A program that answers http-01 or tls-alpn-01, or
// that passes its one DNS provider as a value ([acme.Challenge].DNS,
// renew.Solvers.DNS), does not import it and links no provider. Its one
// function, [Lookup], is the installed [acme.DNSProviderLookup].
package dnsproviders
