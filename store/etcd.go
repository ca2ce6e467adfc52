package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultEtcdPrefix is the key prefix of an etcd store whose URL has no
// path.
const DefaultEtcdPrefix = "/certctl"

// Etcd is the etcd [Backend], for a fleet of machines sharing one store.
// It is opened with [OpenEtcd] (or [OpenURL] with an etcd:// URL) and must
// be closed with Close.
//
// Under its key prefix P it keeps:
//
//	P/meta/schema            schema version (decimal)
//	P/meta/generation        the generation (decimal)
//	P/certs/NAME             the record, the same JSON as the bbolt backend
//	P/revs/NAME              the record's revision (decimal)
//	P/next/NAME              its Renewal.Next (16 hex digits, sortable)
//	P/due/NEXT/NAME          the due index (empty value)
//	P/accounts/DIR/EMAIL     an account (JSON; DIR and EMAIL path-escaped)
//	P/locks/NAME/LEASE       per-certificate lock keys (concurrency.Mutex)
//	P/shared/KEY             shared values, with a lease when they expire
//
// Every write is one etcd transaction that compares the generation and
// the record's revision, writes the record, its revision, its due index
// entry and the new generation, so the state is always one of the
// bbolt backend's. While this Etcd holds the lock of a certificate, the
// transaction also checks that the lock key still exists as it was
// created: a process that lost its lease (a pause longer than
// [Options.LockTTL], a partition) cannot write after another took the
// lock; it gets [ErrLockLost].
//
// Etcd is safe for concurrent use; it implements [Backend] and [Watcher].
type Etcd struct {
	cli        *clientv3.Client
	loc        string // URL without credentials
	hosts      string // endpoints, for messages
	pfx        string // key prefix, ending in "/"
	lockTTL    int    // seconds
	dialTO     time.Duration
	reqTimeout time.Duration
	log        *slog.Logger
	now        func() time.Time
	readOnly   bool
	seal       *sealer // nil without a store key

	// beforeWrite, when set (by tests), runs between the reads of a write
	// and its transaction.
	beforeWrite func()

	mu     sync.Mutex
	sess   *concurrency.Session     // nil until the first lock, or after it died
	gates  map[string]chan struct{} // in-process gate per certificate name
	held   map[string]heldLock      // locks held by this Etcd, by name
	closed bool
}

// heldLock is a lock key this Etcd created and its create revision.
type heldLock struct {
	key string
	rev int64
}

var (
	_ Backend = (*Etcd)(nil)
	_ Watcher = (*Etcd)(nil)
)

// unreachableError reports that etcd could not be reached; it matches
// [ErrUnreachable] and its cause.
type unreachableError struct {
	msg string
	err error
}

func (e *unreachableError) Error() string { return e.msg + ": " + e.err.Error() }

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// etcdURL is a parsed etcd:// or etcds:// store URL.
type etcdURL struct {
	tls        bool
	hosts      []string // host:port
	prefix     string   // "/certctl", no trailing slash
	user, pass string
}

// location is the URL without credentials.
func (u etcdURL) location() string {
	scheme := "etcd"
	if u.tls {
		scheme = "etcds"
	}
	return scheme + "://" + strings.Join(u.hosts, ",") + u.prefix
}

// parseEtcdURL parses etcd[s]://[user:pass@]host[:port][,host[:port]...][/prefix].
func parseEtcdURL(raw string) (etcdURL, error) {
	var u etcdURL
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case !ok || (scheme != "etcd" && scheme != "etcds"):
		return u, errors.New("want etcd://host:port[,host:port]/prefix or etcds://")
	case strings.ContainsAny(rest, "?#"):
		return u, errors.New("query and fragment are not supported")
	}
	u.tls = scheme == "etcds"
	hostPart, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(hostPart, "@"); i >= 0 {
		user, pass, _ := strings.Cut(hostPart[:i], ":")
		var err1, err2 error
		u.user, err1 = url.PathUnescape(user)
		u.pass, err2 = url.PathUnescape(pass)
		if err := errors.Join(err1, err2); err != nil {
			return u, fmt.Errorf("credentials: %w", err)
		}
		hostPart = hostPart[i+1:]
	}
	for h := range strings.SplitSeq(hostPart, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return u, errors.New("empty endpoint")
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// No port: etcd's client port.
			host, port = strings.Trim(h, "[]"), "2379"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return u, fmt.Errorf("endpoint %q: want host:port", h)
		}
		u.hosts = append(u.hosts, net.JoinHostPort(host, port))
	}
	path = strings.Trim(path, "/")
	if path == "" {
		u.prefix = DefaultEtcdPrefix
	} else {
		u.prefix = "/" + path
	}
	if strings.ContainsFunc(u.prefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return u, fmt.Errorf("prefix %q: spaces and control characters are not allowed", u.prefix)
	}
	return u, nil
}

// tlsConfig builds the client TLS configuration from opts.
func tlsConfig(opts *Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.EtcdCA != "" {
		pem, err := os.ReadFile(opts.EtcdCA)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", opts.EtcdCA)
		}
		cfg.RootCAs = pool
	}
	if (opts.EtcdCert == "") != (opts.EtcdKey == "") {
		return nil, errors.New("etcd client certificate: give both the certificate and its key, or neither")
	}
	if opts.EtcdCert != "" {
		c, err := tls.LoadX509KeyPair(opts.EtcdCert, opts.EtcdKey)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// openEtcd opens the etcd store that u names (see [OpenURL]).
func openEtcd(ctx context.Context, u string, opts *Options) (Backend, error) {
	e, err := OpenEtcd(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// OpenEtcd connects to the etcd store that rawURL names:
// etcd://host:port[,host:port...]/prefix, or etcds:// for TLS (also
// turned on by [Options.EtcdCA] or [Options.EtcdCert]). The path is the
// key prefix, [DefaultEtcdPrefix] when empty; user:password@ before the
// hosts is accepted but [Options.EtcdUsername] is preferred. An empty
// prefix is initialized; one holding keys that are not a certctl store is
// refused with [ErrNotStore], a newer schema with [ErrSchemaTooNew]. When
// etcd cannot be reached within [Options.DialTimeout] (and ctx), the error
// names the endpoints and wraps [ErrUnreachable].
func OpenEtcd(ctx context.Context, rawURL string, opts *Options) (*Etcd, error) {
	if opts == nil {
		opts = &Options{}
	}
	pu, err := parseEtcdURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", redactURL(rawURL), err)
	}
	if opts.EtcdCA != "" || opts.EtcdCert != "" {
		pu.tls = true
	}
	loc := pu.location()
	e := &Etcd{
		loc:      loc,
		hosts:    strings.Join(pu.hosts, ","),
		pfx:      pu.prefix + "/",
		dialTO:   opts.DialTimeout,
		log:      opts.Logger,
		now:      opts.Now,
		readOnly: opts.ReadOnly,
		gates:    make(map[string]chan struct{}),
		held:     make(map[string]heldLock),
	}
	if e.seal, err = newSealer(opts); err != nil {
		return nil, fmt.Errorf("store %s: %w", loc, err)
	}
	if e.dialTO <= 0 {
		e.dialTO = DefaultDialTimeout
	}
	e.reqTimeout = 3 * e.dialTO
	ttl := opts.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	e.lockTTL = int((ttl + time.Second - 1) / time.Second)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}

	cfg := clientv3.Config{
		DialTimeout: e.dialTO,
		Username:    pu.user,
		Password:    pu.pass,
		Logger:      zap.NewNop(),
		// Keep the connection checked while idle, so an outage is seen
		// before the next request waits on it.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: e.dialTO,
		// Reconnect within about a second of etcd's return: gRPC's default
		// back-off grows to two minutes, so after an outage a node could
		// stay cut off (and fail the challenge lookups of the others) long
		// after etcd is back.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: e.dialTO,
		})},
	}
	if opts.EtcdUsername != "" {
		cfg.Username, cfg.Password = opts.EtcdUsername, opts.EtcdPassword
	}
	scheme := "http://"
	if pu.tls {
		if cfg.TLS, err = tlsConfig(opts); err != nil {
			return nil, fmt.Errorf("store %s: %w", loc, err)
		}
		scheme = "https://"
	}
	for _, h := range pu.hosts {
		cfg.Endpoints = append(cfg.Endpoints, scheme+h)
	}
	// clientv3.New only logs in (when a user is set) within DialTimeout; a
	// first request bounded the same way checks that etcd answers.
	e.cli, err = clientv3.New(cfg)
	if err != nil {
		return nil, e.openError(ctx, err)
	}
	if err := e.initialize(ctx); err != nil {
		_ = e.cli.Close()
		return nil, err
	}
	return e, nil
}

// redactURL drops the credentials from a URL that did not parse.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	hostPart, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndex(hostPart, "@"); i >= 0 {
		hostPart = hostPart[i+1:]
	}
	if hasPath {
		return scheme + "://" + hostPart + "/" + path
	}
	return scheme + "://" + hostPart
}

// openError describes a failure to connect at open.
func (e *Etcd) openError(ctx context.Context, err error) error {
	if isUnreachable(err) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		cause := err
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			cause = errors.Join(err, e.probe())
		}
		return &unreachableError{msg: fmt.Sprintf("store %s: cannot reach etcd at %s", e.loc, e.hosts), err: cause}
	}
	return fmt.Errorf("store %s: %w", e.loc, err)
}

// probe dials the endpoints' TCP ports once, to say why etcd did not
// answer (a refused connection tells more than a deadline); nil when one
// of them accepts.
func (e *Etcd) probe() error {
	var errs []error
	d := net.Dialer{Timeout: min(e.dialTO, 2*time.Second)}
	for h := range strings.SplitSeq(e.hosts, ",") {
		c, err := d.Dial("tcp", h)
		if err == nil {
			_ = c.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// initialize checks the schema under the prefix, creating it on an empty
// prefix. It is the first request, bounded by the dial timeout.
func (e *Etcd) initialize(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, e.dialTO)
	defer cancel()
	schema := e.pfx + "meta/schema"
	resp, err := e.cli.Txn(rctx).Then(
		clientv3.OpGet(schema),
		clientv3.OpGet(e.pfx, clientv3.WithPrefix(), clientv3.WithCountOnly()),
	).Commit()
	if err != nil {
		return e.openError(ctx, err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return e.checkSchema(kvs[0].Value)
	}
	if resp.Responses[1].GetResponseRange().Count > 0 {
		return fmt.Errorf("store %s: the prefix holds keys but no certctl schema: %w", e.loc, ErrNotStore)
	}
	if e.readOnly {
		return fmt.Errorf("store %s: no store under this prefix (opened read-only): %w", e.loc, ErrNotStore)
	}
	v := strconv.Itoa(SchemaVersion)
	resp, err = e.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(schema), "=", 0)).
		Then(clientv3.OpPut(schema, v), clientv3.OpPut(e.genKey(), "0")).
		Else(clientv3.OpGet(schema)).Commit()
	if err != nil {
		return e.openError(ctx, err)
	}
	if !resp.Succeeded { // another process initialized it meanwhile
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			return e.checkSchema(kvs[0].Value)
		}
	}
	return nil
}

// checkSchema verifies a stored schema version.
func (e *Etcd) checkSchema(v []byte) error {
	s, err := strconv.ParseUint(string(v), 10, 64)
	switch {
	case err != nil:
		return fmt.Errorf("store %s: schema version %q: %w", e.loc, v, ErrNotStore)
	case s > SchemaVersion:
		return fmt.Errorf("store %s: schema version %d, this certctl supports up to %d; upgrade certctl: %w",
			e.loc, s, SchemaVersion, ErrSchemaTooNew)
	}
	return nil
}

// Location returns the store's URL without credentials.
func (e *Etcd) Location() string { return e.loc }

// Close releases the locks' session (its locks with it) and the
// connection. Calling it again does nothing.
func (e *Etcd) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	sess := e.sess
	e.sess = nil
	e.mu.Unlock()
	if sess != nil {
		sess.Orphan()
		ctx, cancel := context.WithTimeout(context.Background(), e.dialTO)
		_, err := e.cli.Revoke(ctx, sess.Lease())
		cancel()
		if err != nil {
			e.log.Warn("etcd store: revoking the locks' lease", "store", e.loc, "err", err)
		}
	}
	return e.cli.Close()
}

// reqCtx bounds one request to etcd.
func (e *Etcd) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.reqTimeout)
}

// classify turns a failed request into the error to return: the caller's
// ctx error when ctx is done, an error wrapping [ErrUnreachable] when etcd
// did not answer or is unavailable, else err.
func (e *Etcd) classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return &unreachableError{msg: fmt.Sprintf("cannot reach etcd at %s: no answer within %s", e.hosts, e.reqTimeout), err: err}
	case isUnreachable(err):
		return &unreachableError{msg: "cannot reach etcd at " + e.hosts, err: err}
	}
	return err
}

// isUnreachable reports an error that says etcd is unavailable (no
// connection, no leader, a request timing out inside etcd).
func isUnreachable(err error) bool {
	var coded interface{ Code() codes.Code }
	if errors.As(err, &coded) {
		switch coded.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}
