package acme

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
)

// classify turns lego's errors into this package's typed errors.
func classify(directory string, err error) error {
	if err == nil {
		return nil
	}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		d, _ := api.ParseRetryAfter(rl.RetryAfter)
		return &RateLimitedError{RetryAfter: d, Detail: rl.Detail}
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		switch strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:") {
		case "rateLimited":
			return &RateLimitedError{Detail: pd.Detail}
		case "unauthorized", "connection", "dns", "incorrectResponse", "caa", "tls", "rejectedIdentifier":
			return &ValidationError{Domain: failedDomain(err), Detail: pd.Detail, Err: err}
		case "accountDoesNotExist":
			return fmt.Errorf("%w: account does not exist: %s", ErrUnauthorized, pd.Detail)
		case "externalAccountRequired":
			return ErrEABRequired
		}
		if strings.Contains(err.Error(), "invalid authorization") || strings.Contains(err.Error(), "invalid challenge") {
			return &ValidationError{Domain: failedDomain(err), Detail: pd.Detail, Err: err}
		}
		return fmt.Errorf("CA said: %s (%s)", pd.Detail, pd.Type)
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &ne) {
		return &UnreachableError{Directory: directory, Err: rootCause(err)}
	}
	if strings.Contains(err.Error(), "get directory at") {
		return &UnreachableError{Directory: directory, Err: err}
	}
	return err
}

// failedDomain finds the domain in lego's "[domain] ..." per-domain errors.
func failedDomain(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		if i := strings.Index(line, "["); i >= 0 {
			if j := strings.Index(line[i:], "]"); j > 1 {
				return line[i+1 : i+j]
			}
		}
	}
	return "?"
}

func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// refusedReplaces reports an order refused by the CA before any
// validation for a reason that may be its "replaces" field.
func refusedReplaces(err error) bool {
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.Method != http.MethodPost {
		return false
	}
	switch strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:") {
	case "rateLimited", "unauthorized", "connection", "dns", "incorrectResponse", "caa", "tls", "rejectedIdentifier", "badNonce":
		return false
	}
	return strings.Contains(pd.URL, "order") || strings.Contains(strings.ToLower(pd.Detail), "replace") ||
		strings.Contains(strings.ToLower(pd.Detail), "order")
}
