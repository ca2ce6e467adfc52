package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/certctl/certctl/internal/certpem"
)

// MaxVersions is how many issued versions a certificate keeps. Older ones are
// dropped when a record is written; the active version is always kept.
const MaxVersions = 5

// SchemaVersion is the version of the stored layout this package writes and
// understands. A store with a newer schema is refused with [ErrSchemaTooNew].
const SchemaVersion = 1

// Certificate is one managed certificate and every setting needed to renew it
// unattended. Name is its key in the store.
type Certificate struct {
	// Name is the record's key, also a lock file name and an export
	// directory name. Put rejects "", names longer than 255 bytes, names
	// containing "/", "\", "..", spaces or control characters, and names
	// starting with "-".
	Name string `json:"name"`
	// Domains are ASCII (punycode) names; the first is the primary.
	Domains []string `json:"domains"`
	// KeyType is one of "ec256", "ec384", "rsa2048", "rsa4096".
	KeyType string `json:"key_type"`
	// Challenge says how domain control is proven.
	Challenge Challenge `json:"challenge"`
	// Directory is the ACME directory URL.
	Directory string `json:"directory"`
	// Email is the account email; "" means an account without contact.
	Email string `json:"email,omitempty"`
	// Profile is the ACME profile to order, "" for the CA's default.
	Profile string `json:"profile,omitempty"`
	// PreferredChain selects an alternate chain by issuer common name.
	PreferredChain string `json:"preferred_chain,omitempty"`
	// ReuseKey keeps the private key of the active version for the next
	// order instead of generating a new one (as long as KeyType matches).
	ReuseKey bool `json:"reuse_key,omitempty"`
	// CSR is a certificate signing request (PEM) brought by the user: every
	// order is placed with it, and the key is held elsewhere, so its
	// versions have no private key ([Version.Key] returns [ErrNoKey]).
	// Domains are the CSR's names.
	CSR []byte `json:"csr_pem,omitempty"`
	// Hooks are the commands run around a renewal.
	Hooks Hooks `json:"hooks,omitzero"`
	// Bindings are the files the certificate is exported to.
	Bindings []FileBinding `json:"bindings,omitempty"`
	// Active is the Seq of the active version; 0 means none.
	Active int `json:"active"`
	// Versions are the issued certificates, oldest first, at most MaxVersions.
	Versions []Version `json:"versions"`
	// ARI is the renewal information last fetched from the CA.
	ARI ARIState `json:"ari"`
	// Renewal is the scheduling and failure state of renewals.
	Renewal RenewalState `json:"renewal"`
	// Created is when the record was first written (set by Put when zero).
	Created time.Time `json:"created"`
	// Updated is when the record was last written (set by Put).
	Updated time.Time `json:"updated"`
	// Revision is set by the store on read and by Put: the store generation
	// at which this record was last written. Put compares it with the stored
	// one; 0 means the record must not exist yet.
	Revision uint64 `json:"-"`

	// chainChecked is the chain check mark of the active version (see
	// chaincheck.go): stored by Put, read back with the record.
	chainChecked []byte
}

// Challenge holds the settings of the ACME challenge used for a certificate.
type Challenge struct {
	// Type is "http-01", "dns-01" or "tls-alpn-01".
	Type string `json:"type"`
	// HTTPAddr is the address the HTTP-01 responder listens on.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Webroot is a directory served by an existing web server for HTTP-01.
	Webroot string `json:"webroot,omitempty"`
	// DNSProvider is the lego DNS provider name for DNS-01.
	DNSProvider string `json:"dns_provider,omitempty"`
	// DNSResolvers are the resolvers used to check DNS-01 propagation.
	DNSResolvers []string `json:"dns_resolvers,omitempty"`
	// TLSAddr is the address the TLS-ALPN-01 responder listens on.
	TLSAddr string `json:"tls_addr,omitempty"`
}

// Hooks are the commands run around a renewal. Each is an argv, never a shell
// line.
type Hooks struct {
	// Pre runs before a renewal.
	Pre []string `json:"pre,omitempty"`
	// Deploy runs after a successful renewal.
	Deploy []string `json:"deploy,omitempty"`
	// Post runs after every renewal attempt.
	Post []string `json:"post,omitempty"`
	// Failure runs after a failed renewal.
	Failure []string `json:"failure,omitempty"`
}

// FileBinding exports the active certificate to files for a server that is
// not a Go program, then runs its reload command.
type FileBinding struct {
	// Dir receives PEM files in a certbot-like layout.
	Dir string `json:"dir,omitempty"`
	// PFX is the path of a PKCS#12 file to write.
	PFX string `json:"pfx,omitempty"`
	// PFXPasswordFile names a file holding the PFX password.
	PFXPasswordFile string `json:"pfx_password_file,omitempty"`
	// PFXPasswordEnv names an environment variable holding the PFX password.
	PFXPasswordEnv string `json:"pfx_password_env,omitempty"`
	// PFXLegacy writes the PFX in the legacy profile (3DES, SHA-1) that
	// Windows Server 2016 and earlier import; see export.FileTarget.
	PFXLegacy bool `json:"pfx_legacy,omitempty"`
	// ReloadCmd is run (as an argv) after the files were written.
	ReloadCmd []string `json:"reload_cmd,omitempty"`
}

// Version is one issued certificate.
type Version struct {
	// Seq numbers versions 1, 2, 3... per certificate; use
	// [Certificate.NextSeq] to assign it.
	Seq int `json:"seq"`
	// Serial is the certificate serial number in lowercase hex.
	Serial string `json:"serial"`
	// CertPEM is the leaf certificate.
	CertPEM []byte `json:"cert_pem"`
	// ChainPEM holds the issuers, leaf excluded.
	ChainPEM []byte `json:"chain_pem"`
	// KeyPEM is the private key. It is nil when the key is sealed and the
	// store was opened without the store key that sealed it (see
	// [Version.Key] and SealedKey), and when there is none: a certificate
	// ordered with a CSR ([Certificate.CSR]).
	KeyPEM []byte `json:"key_pem,omitempty"`
	// SealedKey is the private key sealed with a store key
	// ([Options.SealKey]) as stored, set only while it is not opened
	// (KeyPEM is nil). Writing the record back keeps it as it is.
	SealedKey []byte `json:"key_sealed,omitempty"`
	// NotBefore is the start of the leaf's validity.
	NotBefore time.Time `json:"not_before"`
	// NotAfter is the end of the leaf's validity.
	NotAfter time.Time `json:"not_after"`
	// Issued is when certctl obtained the certificate.
	Issued time.Time `json:"issued"`
	// CertURL is the certificate's ACME URL.
	CertURL string `json:"cert_url,omitempty"`
	// Revoked reports whether the certificate was revoked.
	Revoked bool `json:"revoked,omitempty"`
	// RevokedAt is when it was revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// RevokeReason is the RFC 5280 reason code given when revoking.
	RevokeReason int `json:"revoke_reason,omitempty"`
	// Replaces is the ARI certificate ID of the certificate this one replaced.
	Replaces string `json:"replaces,omitempty"`

	// keyErr says why a sealed key was not opened.
	keyErr error
}

// ARIState is the ACME Renewal Information (RFC 9773) last fetched for the
// active version.
type ARIState struct {
	// WindowStart is the start of the CA's suggested renewal window.
	WindowStart time.Time `json:"window_start,omitzero"`
	// WindowEnd is the end of the CA's suggested renewal window.
	WindowEnd time.Time `json:"window_end,omitzero"`
	// Chosen is the random point inside the window picked for renewal.
	Chosen time.Time `json:"chosen,omitzero"`
	// RetryAfter is when the CA wants ARI to be asked again.
	RetryAfter time.Time `json:"retry_after,omitzero"`
	// Fetched is when the window was fetched.
	Fetched time.Time `json:"fetched,omitzero"`
	// ExplanationURL is the CA's explanation of the window, if any.
	ExplanationURL string `json:"explanation_url,omitempty"`
	// CertID is the ARI certificate ID of the active version.
	CertID string `json:"cert_id,omitempty"`
}

// RenewalState is the scheduling and failure state of a certificate's
// renewals. Next is indexed: [Store.Due] finds certificates by it.
type RenewalState struct {
	// Next is when the next renewal attempt is due; zero means not scheduled.
	Next time.Time `json:"next"`
	// Reason says why Next was chosen (shown by `certctl list`).
	Reason string `json:"reason"`
	// Attempts counts failed attempts since the last success.
	Attempts int `json:"attempts"`
	// LastError is the error of the last failed attempt.
	LastError string `json:"last_error"`
	// LastAttempt is when a renewal was last tried.
	LastAttempt time.Time `json:"last_attempt"`
	// LastSuccess is when a renewal last succeeded.
	LastSuccess time.Time `json:"last_success"`
	// DeployError is the error of the last deployment (file bindings,
	// reload command, deploy hooks) of the active version; "" when it
	// succeeded. A renewal that could not be deployed is not served.
	DeployError string `json:"deploy_error,omitempty"`
}

// Fullchain returns a new slice holding the leaf followed by its issuers,
// the form TLS servers load.
func (v *Version) Fullchain() []byte { return certpem.Fullchain(v.CertPEM, v.ChainPEM) }

// Account is one ACME account: one per (directory, email).
type Account struct {
	// Directory is the ACME directory URL.
	Directory string `json:"directory"`
	// Email is the contact email; "" for an account without contact.
	Email string `json:"email"`
	// KeyPEM is the account's private key; nil when it is sealed and was
	// not opened (see [Account.Key]).
	KeyPEM []byte `json:"key_pem,omitempty"`
	// SealedKey is the sealed private key as stored, set only while it is
	// not opened (see [Version.SealedKey]).
	SealedKey []byte `json:"key_sealed,omitempty"`
	// URI is the account URL returned by the CA.
	URI string `json:"uri"`
	// KeyType is the account key type, such as "ec256".
	KeyType string `json:"key_type"`
	// Created is when the account was registered (set by PutAccount when zero).
	Created time.Time `json:"created"`
	// TOSAgreed records that the terms of service were accepted.
	TOSAgreed bool `json:"tos_agreed"`

	keyErr error // as in Version
}

// ActiveVersion returns the active version, or nil if there is none.
func (c *Certificate) ActiveVersion() *Version {
	if c.Active == 0 {
		return nil
	}
	return c.Version(c.Active)
}

// Version returns the version with the given Seq, or nil.
func (c *Certificate) Version(seq int) *Version {
	for i := range c.Versions {
		if c.Versions[i].Seq == seq {
			return &c.Versions[i]
		}
	}
	return nil
}

// NextSeq returns the Seq to give the next issued version: one more than the
// highest kept.
func (c *Certificate) NextSeq() int {
	n := 0
	for _, v := range c.Versions {
		n = max(n, v.Seq)
	}
	return n + 1
}

// AddVersion appends v, makes it active and drops the oldest versions beyond
// [MaxVersions] (never the active one).
func (c *Certificate) AddVersion(v Version) {
	c.Versions = append(c.Versions, v)
	c.Active = v.Seq
	c.trimVersions()
}

// trimVersions drops the oldest non-active versions until at most MaxVersions
// remain.
func (c *Certificate) trimVersions() {
	for len(c.Versions) > MaxVersions {
		i := 0
		if c.Versions[0].Seq == c.Active {
			i = 1
		}
		c.Versions = slices.Delete(c.Versions, i, i+1)
	}
}

// Clone returns a deep copy of c.
func (c *Certificate) Clone() *Certificate {
	if c == nil {
		return nil
	}
	n := *c
	n.Domains = slices.Clone(c.Domains)
	n.CSR = slices.Clone(c.CSR)
	n.Challenge.DNSResolvers = slices.Clone(c.Challenge.DNSResolvers)
	n.Hooks = Hooks{
		Pre:     slices.Clone(c.Hooks.Pre),
		Deploy:  slices.Clone(c.Hooks.Deploy),
		Post:    slices.Clone(c.Hooks.Post),
		Failure: slices.Clone(c.Hooks.Failure),
	}
	if c.Bindings != nil {
		n.Bindings = make([]FileBinding, len(c.Bindings))
		for i, b := range c.Bindings {
			b.ReloadCmd = slices.Clone(b.ReloadCmd)
			n.Bindings[i] = b
		}
	}
	if c.Versions != nil {
		n.Versions = make([]Version, len(c.Versions))
		for i, v := range c.Versions {
			v.CertPEM = slices.Clone(v.CertPEM)
			v.ChainPEM = slices.Clone(v.ChainPEM)
			v.KeyPEM = slices.Clone(v.KeyPEM)
			v.SealedKey = slices.Clone(v.SealedKey)
			n.Versions[i] = v
		}
	}
	return &n
}

// validate checks what Put requires of a record.
func (c *Certificate) validate() error {
	if err := checkName(c.Name); err != nil {
		return err
	}
	if c.Active != 0 && c.Version(c.Active) == nil {
		return fmt.Errorf("%s: active version %d is not among its versions: %w", c.Name, c.Active, ErrInvalidRecord)
	}
	return nil
}

// checkName rejects names that cannot be a key, a lock file name and an
// export directory name: those certpem.CheckName refuses.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name: %w", ErrInvalidName)
	case certpem.CheckName(name) != nil:
		return fmt.Errorf("%q: %w", name, ErrInvalidName)
	}
	return nil
}
