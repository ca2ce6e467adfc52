package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
)

// problemNS prefixes the ACME problem types of RFC 8555 section 6.7.
const problemNS = "urn:ietf:params:acme:error:"

// validationProblems are the problem types by which a CA says it could not
// validate control of an identifier.
var validationProblems = []string{"unauthorized", "connection", "dns", "incorrectResponse", "caa", "tls", "rejectedIdentifier"}

// classify turns lego's errors into this package's typed errors. domains are
// the identifiers of the order that failed (nil outside an order); they name
// a validation failure when lego does not say which identifier failed.
func classify(directory string, domains []string, err error) error {
	if err == nil {
		return nil
	}
	var be *BusyError
	if errors.As(err, &be) {
		// A request the order's retry gate did not send (see retryGate).
		return be
	}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		d, _ := api.ParseRetryAfter(rl.RetryAfter)
		return &RateLimitedError{RetryAfter: d, Detail: rl.Detail}
	}
	var pe *PropagationError
	if errors.As(err, &pe) {
		// lego's wait for the record ran out: its own error says only that
		// ("propagation: time limit exceeded") around the last check.
		return pe
	}
	if ve := validationError(domains, err); ve != nil {
		return ve
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		switch problemType(pd) {
		case "rateLimited":
			return &RateLimitedError{Detail: pd.Detail}
		case "accountDoesNotExist":
			return fmt.Errorf("%w: account does not exist: %s", ErrUnauthorized, pd.Detail)
		case "externalAccountRequired":
			return ErrEABRequired
		case "unauthorized":
			// Outside an order (registering, revoking): the CA refused the
			// account, not the validation of a name.
			return fmt.Errorf("%w: %s", ErrUnauthorized, pd.Detail)
		}
		return fmt.Errorf("CA said: %s (%s)", pd.Detail, pd.Type)
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &ne) {
		return &UnreachableError{Directory: directory, Err: rootCause(err)}
	}
	return err
}

// classifyDirectory is classify for the errors of lego.NewClient, whose only
// request reads the directory. lego wraps the failures of that request in an
// error of no type of its own ("get directory at ..."); besides the network
// errors classify knows, a body that is not JSON or ends early means that no
// ACME directory could be read there.
func classifyDirectory(directory string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) && (errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return &UnreachableError{Directory: directory, Err: err}
	}
	return classify(directory, nil, err)
}

// validationError returns the failure to validate one of domains that err
// reports, or nil if it reports none. The domain comes from lego's
// per-domain errors, else from the problem's subproblems, else it is the
// order's domains; outside an order (no domains, no subproblems) a refusal is
// no validation failure and validationError returns nil.
func validationError(domains []string, err error) *ValidationError {
	if perDomain := domainErrors(err); perDomain != nil {
		for _, d := range slices.Sorted(maps.Keys(perDomain)) {
			// A problem without a request method is not the answer to a
			// request: it is the error object of an invalid challenge,
			// which lego reports as "invalid challenge" or "invalid
			// authorization".
			var pd *legoacme.ProblemDetails
			if errors.As(perDomain[d], &pd) && (pd.Method == "" || isValidationProblem(pd)) {
				return &ValidationError{Domain: d, Problem: problemType(pd), Detail: pd.Detail, Err: err}
			}
		}
	}
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || !isValidationProblem(pd) {
		return nil
	}
	var named []string
	for _, sp := range pd.SubProblems {
		if sp.Identifier.Value != "" && !slices.Contains(named, sp.Identifier.Value) {
			named = append(named, sp.Identifier.Value)
		}
	}
	if len(named) == 0 {
		// lego names the failed identifiers of authorizations it could not
		// fetch and of a refused finalization only inside error texts
		// (certificate.obtainError joins "domain: error" strings), and
		// leaves the domain empty for the former: name the whole order.
		named = domains
	}
	if len(named) == 0 {
		return nil
	}
	return &ValidationError{Domain: strings.Join(named, ","), Problem: problemType(pd), Detail: pd.Detail, Err: err}
}

// domainMapType is the underlying type of lego's per-domain solver errors.
var domainMapType = reflect.TypeFor[map[string]error]()

// domainErrors returns lego's per-domain challenge errors (domain -> error)
// found in err's tree, or nil. lego's challenge resolver returns them as its
// unexported type obtainError, a map[string]error; errors.As cannot target a
// map (it is no error type), so the map is found and converted by
// reflection, on its type alone.
func domainErrors(err error) map[string]error {
	var found map[string]error
	walkErrors(err, func(e error) bool {
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Map && v.CanConvert(domainMapType) {
			found = v.Convert(domainMapType).Interface().(map[string]error)
			return true
		}
		return false
	})
	return found
}

// walkErrors calls visit on err and the errors it wraps, depth first, until
// visit returns true.
func walkErrors(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walkErrors(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walkErrors(e, visit) {
				return true
			}
		}
	}
	return false
}

// problemType returns pd's type without the ACME namespace.
func problemType(pd *legoacme.ProblemDetails) string {
	return strings.TrimPrefix(pd.Type, problemNS)
}

// isValidationProblem reports a problem type by which a CA says it could not
// validate an identifier.
func isValidationProblem(pd *legoacme.ProblemDetails) bool {
	return slices.Contains(validationProblems, problemType(pd))
}

// refusedReplaces reports an order refused by the CA before any validation
// for a reason that may be its "replaces" field. Only the newOrder request's
// own problem reaches Obtain unwrapped, as a *ProblemDetails or one of lego's
// types around it: lego wraps the problems of every later step (per-domain
// errors, "invalid order: ..."), so err is deliberately not unwrapped.
func refusedReplaces(err error) bool {
	var pd *legoacme.ProblemDetails
	switch e := err.(type) { //nolint:errorlint // see above
	case *legoacme.ProblemDetails:
		pd = e
	case *legoacme.AlreadyReplacedError:
		pd = e.ProblemDetails
	default:
		return false
	}
	if pd == nil || pd.Method != http.MethodPost {
		return false
	}
	switch problemType(pd) {
	case "rateLimited", "badNonce":
		return false
	}
	return !isValidationProblem(pd)
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
