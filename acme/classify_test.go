package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/challenge/resolver"
)

const testDir = "https://ca.example/dir"

// problem returns a problem document as lego's sender makes it (method set)
// or, with method "", as lego decodes it from a challenge's error field.
func problem(typ, method, detail string) *legoacme.ProblemDetails {
	pd := &legoacme.ProblemDetails{Type: problemNS + typ, Detail: detail, HTTPStatus: http.StatusForbidden, Method: method}
	if method != "" {
		pd.URL = "https://ca.example/acme/x"
	}
	return pd
}

// solverErrors mirrors lego's unexported challenge/resolver.obtainError (a
// map[string]error, domain -> error), whose values cannot be built outside
// lego with a problem inside; TestDomainErrors_LegoResolverType checks that
// lego's own type is still such a map.
type solverErrors map[string]error

func (e solverErrors) Unwrap() []error {
	var errs []error
	for _, err := range e {
		errs = append(errs, err)
	}
	return errs
}

func (e solverErrors) Error() string {
	var lines []string
	for d, err := range e {
		lines = append(lines, fmt.Sprintf("[%s] %s\n", d, err))
	}
	slices.Sort(lines)
	return "error: one or more domains had a problem:\n" + strings.Join(lines, "")
}

// joinedDomains is how lego's certificate.obtainError.Join reports the
// errors of authorizations and of finalization: domains only in the text.
func joinedDomains(domains []string, err error) error {
	var joined error
	for _, d := range domains {
		joined = errors.Join(joined, fmt.Errorf("%s: %w", d, err))
	}
	return fmt.Errorf("error: one or more domains had a problem:\n%w", joined)
}

func TestClassify_LegoErrors(t *testing.T) {
	order := []string{"a.example", "www.a.example"}
	jsonErr := json.Unmarshal([]byte("<html>"), new(struct{}))
	plain := errors.New("directory missing new registration URL")
	tests := []struct {
		name    string
		domains []string
		err     error
		// want is the domain of a *ValidationError, "rate:SECONDS" for a
		// *RateLimitedError, "unreachable" for an *UnreachableError, or the
		// text the error must contain.
		want   string
		target error // errors.Is target, if any
	}{
		{"rate limited with Retry-After", order, &legoacme.RateLimitedError{ProblemDetails: problem("rateLimited", http.MethodPost, "slow"), RetryAfter: "90"}, "rate:90", nil},
		{"rate limited problem without header", order, problem("rateLimited", http.MethodPost, "slow"), "rate:0", nil},
		{"rate limited inside solver errors", order, solverErrors{"a.example": fmt.Errorf("failed to initiate challenge: %w", &legoacme.RateLimitedError{ProblemDetails: problem("rateLimited", http.MethodPost, "x"), RetryAfter: "3"})}, "rate:3", nil},
		{"invalid challenge names its domain", order, solverErrors{"www.a.example": fmt.Errorf("invalid challenge: %w", problem("connection", "", "refused")), "a.example": errors.New("[a.example] acme: error presenting token: no")}, "www.a.example", nil},
		{"invalid authorization of any type", order, solverErrors{"a.example": fmt.Errorf("invalid authorization: %w", problem("serverInternal", "", "boom"))}, "a.example", nil},
		{"first failed domain in order", order, solverErrors{"www.a.example": fmt.Errorf("invalid challenge: %w", problem("dns", "", "nx")), "a.example": fmt.Errorf("invalid challenge: %w", problem("caa", "", "caa"))}, "a.example", nil},
		{"wildcard domain", []string{"*.w.example"}, solverErrors{"*.w.example": fmt.Errorf("invalid authorization: %w", problem("incorrectResponse", "", "bad TXT"))}, "*.w.example", nil},
		{"challenge POST refused is no validation", order, solverErrors{"a.example": fmt.Errorf("failed to initiate challenge: %w", problem("malformed", http.MethodPost, "bad"))}, "CA said: bad", nil},
		{"no solver is no validation", order, solverErrors{"a.example": errors.New("[a.example] acme: could not determine solvers")}, "could not determine solvers", nil},
		{"rejected identifier names subproblems", order, &legoacme.ProblemDetails{Type: problemNS + "rejectedIdentifier", Detail: "no", Method: http.MethodPost,
			SubProblems: []legoacme.SubProblem{{Type: problemNS + "rejectedIdentifier", Identifier: legoacme.Identifier{Type: "dns", Value: "www.a.example"}}}}, "www.a.example", nil},
		{"finalize refused names the order", order, joinedDomains(order, fmt.Errorf("invalid order: %w", problem("unauthorized", "", "caa"))), "a.example,www.a.example", nil},
		{"authorization fetch with empty domain", order, joinedDomains([]string{""}, problem("unauthorized", http.MethodPost, "not yours")), "a.example,www.a.example", nil},
		{"unauthorized outside an order", nil, problem("unauthorized", http.MethodPost, "not your certificate"), "not your certificate", ErrUnauthorized},
		{"account does not exist", nil, problem("accountDoesNotExist", http.MethodPost, "gone"), "account does not exist: gone", ErrUnauthorized},
		{"external account required", nil, problem("externalAccountRequired", http.MethodPost, "eab"), "external account binding", ErrEABRequired},
		{"other problem", order, problem("serverInternal", http.MethodPost, "oops"), "CA said: oops (urn:ietf:params:acme:error:serverInternal)", nil},
		{"connection refused", nil, &url.Error{Op: "Get", URL: testDir, Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}}, "unreachable", nil},
		{"timeout", nil, fmt.Errorf("wrapped: %w", &net.DNSError{Err: "timeout", IsTimeout: true}), "unreachable", nil},
		{"unclassified error kept", order, plain, plain.Error(), plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkClass(t, classify(testDir, tt.domains, tt.err), tt.want, tt.target)
		})
	}
	t.Run("directory not JSON", func(t *testing.T) {
		err := fmt.Errorf("get directory at '%s': %w", testDir, fmt.Errorf("failed to unmarshal: %w", jsonErr))
		checkClass(t, classifyDirectory(testDir, err), "unreachable", jsonErr)
	})
	t.Run("directory cut short", func(t *testing.T) {
		checkClass(t, classifyDirectory(testDir, fmt.Errorf("get directory at '%s': %w", testDir, io.ErrUnexpectedEOF)), "unreachable", io.ErrUnexpectedEOF)
	})
	t.Run("directory problem", func(t *testing.T) {
		err := fmt.Errorf("get directory at '%s': %w", testDir, problem("serverInternal", http.MethodGet, "down"))
		checkClass(t, classifyDirectory(testDir, err), "CA said: down", nil)
	})
	t.Run("directory incomplete kept", func(t *testing.T) {
		checkClass(t, classifyDirectory(testDir, plain), plain.Error(), plain)
	})
}

// checkClass checks err against a want of TestClassify_LegoErrors.
func checkClass(t *testing.T, err error, want string, target error) {
	t.Helper()
	var ve *ValidationError
	var rl *RateLimitedError
	var ue *UnreachableError
	switch {
	case strings.HasPrefix(want, "rate:"):
		if !errors.As(err, &rl) || fmt.Sprintf("rate:%d", int(rl.RetryAfter/time.Second)) != want {
			t.Fatalf("classify = %#v, want %s", err, want)
		}
	case want == "unreachable":
		if !errors.As(err, &ue) || ue.Directory != testDir {
			t.Fatalf("classify = %#v, want *UnreachableError", err)
		}
	case errors.As(err, &ve):
		if ve.Domain != want || ve.Detail == "" {
			t.Fatalf("ValidationError = %+v, want domain %q", ve, want)
		}
	case !strings.Contains(err.Error(), want):
		t.Fatalf("classify = %q (%T), want it to contain %q", err, err, want)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("classify = %v, want errors.Is %v", err, target)
	}
	if errors.As(err, &ve) && (ve.Domain == "" || strings.Contains(ve.Domain, "?")) {
		t.Fatalf("ValidationError without a domain: %+v", ve)
	}
}

// Only a problem that the newOrder request itself got can be about
// "replaces"; problems of later steps come wrapped.
func TestRefusedReplaces(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"newOrder server error", problem("serverInternal", http.MethodPost, "cannot find order"), true},
		{"newOrder malformed", problem("malformed", http.MethodPost, "bad replaces"), true},
		{"already replaced", &legoacme.AlreadyReplacedError{ProblemDetails: problem("alreadyReplaced", http.MethodPost, "x")}, true},
		{"rate limited", &legoacme.RateLimitedError{ProblemDetails: problem("rateLimited", http.MethodPost, "x")}, false},
		{"bad nonce", &legoacme.NonceError{ProblemDetails: problem("badNonce", http.MethodPost, "x")}, false},
		{"rejected identifier", problem("rejectedIdentifier", http.MethodPost, "x"), false},
		{"GET", problem("serverInternal", http.MethodGet, "x"), false},
		{"later step", fmt.Errorf("invalid order: %w", problem("serverInternal", http.MethodPost, "x")), false},
		{"solver errors", solverErrors{"a.example": problem("serverInternal", http.MethodPost, "x")}, false},
		{"network", &url.Error{Op: "Post", URL: testDir, Err: io.EOF}, false},
	}
	for _, tt := range tests {
		if got := refusedReplaces(tt.err); got != tt.want {
			t.Errorf("%s: refusedReplaces = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// lego's resolver returns its per-domain errors as an unexported map type;
// domainErrors must keep finding it, keyed by domain, when lego changes.
func TestDomainErrors_LegoResolverType(t *testing.T) {
	authz := legoacme.Authorization{Status: legoacme.StatusPending, Wildcard: true,
		Identifier: legoacme.Identifier{Type: "dns", Value: "w.example"},
		Challenges: []legoacme.Challenge{{Type: "http-01"}}}
	// With no solver set, lego fails the authorization without contacting anyone.
	installLegoLogger(nil) // lego's logger prints to stderr otherwise
	err := resolver.NewProber(resolver.NewSolversManager(nil)).Solve([]legoacme.Authorization{authz})
	m := domainErrors(fmt.Errorf("obtaining: %w", err))
	if len(m) != 1 || m["*.w.example"] == nil {
		t.Fatalf("domainErrors(%T %v) = %v, want one error for *.w.example", err, err, m)
	}
	if domainErrors(errors.New("x")) != nil || domainErrors(nil) != nil {
		t.Fatal("domainErrors found a map where there is none")
	}
}
