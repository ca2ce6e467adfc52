package acme

import (
	"context"
	"crypto"
	"fmt"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/registration"
)

// Account is an ACME account: its key and the URL the CA gave it.
type Account struct {
	// Email is the contact given to the CA; it may be empty.
	Email string
	// Key signs the account's requests; KeyPEM is its PEM encoding, to store.
	Key    crypto.Signer
	KeyPEM []byte
	// URI is the account's URL at the CA, empty until registered.
	URI string
}

type legoUser struct{ a *Account }

func (u legoUser) GetEmail() string                 { return u.a.Email }
func (u legoUser) GetPrivateKey() crypto.PrivateKey { return u.a.Key }
func (u legoUser) GetRegistration() *registration.Resource {
	if u.a.URI == "" {
		return nil
	}
	return &registration.Resource{URI: u.a.URI}
}

// LoadAccount rebuilds an account from its stored key and URL.
func LoadAccount(email string, keyPEM []byte, uri string) (*Account, error) {
	k, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", email, err)
	}
	return &Account{Email: email, Key: k, KeyPEM: keyPEM, URI: uri}, nil
}

// RegisterOptions are the choices made when creating an account.
type RegisterOptions struct {
	// AgreeTOS must be true: it records the user's agreement to the CA's terms.
	AgreeTOS bool
	// EABKeyID and EABHMAC are the external account binding some CAs
	// (ZeroSSL, Google) require; HMAC is base64url as the CA gives it.
	EABKeyID, EABHMAC string
}

// Register creates an account at the CA with a new EC P-256 key.
func Register(ctx context.Context, cfg Config, email string, opts RegisterOptions) (*Account, error) {
	if !opts.AgreeTOS {
		return nil, ErrTOSNotAgreed
	}
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return nil, fmt.Errorf("account %s: generating key: %w", email, err)
	}
	acct := &Account{Email: email, Key: key.(crypto.Signer), KeyPEM: certcrypto.PEMEncode(key)}
	lc, err := newLego(ctx, cfg, acct, EC256)
	if err != nil {
		return nil, err
	}
	var res *registration.Resource
	if opts.EABKeyID != "" || opts.EABHMAC != "" {
		if opts.EABKeyID == "" || opts.EABHMAC == "" {
			return nil, fmt.Errorf("account %s: %w: both key ID and HMAC are needed", email, ErrEABRequired)
		}
		res, err = lc.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: opts.EABKeyID, HmacEncoded: opts.EABHMAC,
		})
	} else {
		if lc.GetExternalAccountRequired() {
			return nil, fmt.Errorf("account %s: %w", email, ErrEABRequired)
		}
		res, err = lc.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: registering: %w", email, classify(cfg.Directory, nil, err))
	}
	acct.URI = res.URI
	return acct, nil
}
