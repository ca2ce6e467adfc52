package bindings

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Names of the files Export writes in DIR/NAME, in certbot's layout.
const (
	CertFile      = "cert.pem"      // the leaf certificate
	ChainFile     = "chain.pem"     // the issuers, leaf excluded (may be empty)
	FullchainFile = "fullchain.pem" // the leaf followed by the issuers
	KeyFile       = "privkey.pem"   // the private key
)

// DefaultReloadTimeout is how long Reload lets a command run when the
// target's ReloadTimeout is zero.
const DefaultReloadTimeout = time.Minute

const (
	// commandOutputMax bounds the output kept (and logged) per command.
	commandOutputMax = 64 << 10
	// commandErrOutputMax bounds the output tail quoted in an error.
	commandErrOutputMax = 4 << 10
	// commandOutputGrace is how long output is still read after a command
	// exited while a process it left behind holds its stdout/stderr.
	commandOutputGrace = 2 * time.Second
)

// FileTarget says where a certificate is exported for a server that is not
// a Go program (nginx, HAProxy, IIS), and how that server is told to reload.
type FileTarget struct {
	// Dir receives PEM files in DIR/NAME/ (see [CertFile] and the others).
	// "" means no PEM files.
	Dir string
	// PFX is the path of a PKCS#12 file holding the leaf, its chain and its
	// key. "" means no PFX.
	PFX string
	// PFXPassword encrypts the PFX; see [ReadPassword]. "" gives a file
	// encrypted with the empty password, readable by anyone who can read it.
	PFXPassword string
	// ReloadCmd is run by [Reload] as an argv, never through a shell. Empty
	// means nothing is run.
	ReloadCmd []string
	// ReloadTimeout bounds ReloadCmd; 0 means [DefaultReloadTimeout].
	ReloadTimeout time.Duration
}

// ExportedFiles are the paths Export wrote; "" for a file not written.
type ExportedFiles struct {
	Cert, Chain, Fullchain, Key, PFX string
}

// Export writes the certificate named name for t: the PEM files
// DIR/NAME/{cert,chain,fullchain,privkey}.pem when t.Dir is set, and the
// PKCS#12 file t.PFX (leaf, chain and key, encrypted with t.PFXPassword by
// the Modern2023 encoder: AES-256-CBC, PBKDF2, SHA-256) when t.PFX is set.
//
// certPEM holds the leaf, optionally followed by its issuers; chainPEM holds
// further issuers (it may be empty). keyPEM holds the private key (PKCS#8,
// SEC 1 or PKCS#1). name must be a plain file name: not empty, ".", "..", nor
// holding a path separator.
//
// Everything is validated first (the PEM parses, the key matches the leaf)
// and then every file is staged as a temporary file in its destination's
// directory and synced; only when all are staged is each renamed into place
// and its directory synced. A failure before that point removes the staged
// files and leaves the previous export untouched. Each file is replaced
// atomically: a reader sees the old file or the new one, never a mix; the
// set of files is not replaced as one, so a server should be reloaded (see
// [Reload]) after Export returns. NAME is created 0700, privkey.pem and the
// PFX are 0600, the other files 0644; missing parents of Dir and of the PFX
// are created 0755.
func Export(name string, certPEM, chainPEM, keyPEM []byte, t FileTarget) (ExportedFiles, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`+"\x00") {
		return ExportedFiles{}, fmt.Errorf("export %q: %w", name, ErrInvalidName)
	}
	if t.Dir == "" && t.PFX == "" {
		return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, ErrNoTarget)
	}
	leaf, chain, err := exportParseCerts(name, certPEM, chainPEM)
	if err != nil {
		return ExportedFiles{}, err
	}
	keyBlock, key, err := exportParseKey(keyPEM)
	if err != nil {
		return ExportedFiles{}, fmt.Errorf("%s: reading key PEM: %w", name, err)
	}
	if err := exportKeyMatches(key, leaf); err != nil {
		return ExportedFiles{}, fmt.Errorf("%s: %w", name, err)
	}

	var (
		files   []*stagedFile
		created string // NAME, when this call created it
	)
	defer func() { // on failure: remove staged files and a new, empty NAME
		for _, f := range files {
			f.discard()
		}
		if files != nil && created != "" {
			_ = os.Remove(created)
		}
	}()
	stage := func(path string, data []byte, mode os.FileMode) error {
		f, err := stageFile(path, data, mode)
		if err != nil {
			return fmt.Errorf("%s: exporting: %w", name, err)
		}
		files = append(files, f)
		return nil
	}

	var out ExportedFiles
	if t.Dir != "" {
		dir := filepath.Join(t.Dir, name)
		if err := os.MkdirAll(t.Dir, 0o755); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		switch err := os.Mkdir(dir, 0o700); {
		case err == nil:
			created = dir
		case !errors.Is(err, os.ErrExist):
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		leafPEM := pemCerts(leaf)
		chainOnly := pemCerts(chain...)
		out = ExportedFiles{
			Cert:      filepath.Join(dir, CertFile),
			Chain:     filepath.Join(dir, ChainFile),
			Fullchain: filepath.Join(dir, FullchainFile),
			Key:       filepath.Join(dir, KeyFile),
		}
		for _, s := range []struct {
			path string
			data []byte
			mode os.FileMode
		}{
			{out.Key, pem.EncodeToMemory(keyBlock), 0o600},
			{out.Cert, leafPEM, 0o644},
			{out.Chain, chainOnly, 0o644},
			{out.Fullchain, append(bytes.Clone(leafPEM), chainOnly...), 0o644},
		} {
			if err := stage(s.path, s.data, s.mode); err != nil {
				return ExportedFiles{}, err
			}
		}
	}
	if t.PFX != "" {
		pfx, err := pkcs12.Modern2023.Encode(key, leaf, chain, t.PFXPassword)
		if err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: encoding PFX: %w", name, err)
		}
		if err := os.MkdirAll(filepath.Dir(t.PFX), 0o755); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		if err := stage(t.PFX, pfx, 0o600); err != nil {
			return ExportedFiles{}, err
		}
		out.PFX = t.PFX
	}

	dirs := map[string]bool{}
	if created != "" {
		dirs[t.Dir] = true
	}
	for _, f := range files {
		if err := f.commit(); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		dirs[filepath.Dir(f.path)] = true
	}
	files = nil
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: syncing %s: %w", name, d, err)
		}
	}
	return out, nil
}

// exportParseCerts returns the leaf (the first certificate of certPEM) and
// its chain (the rest of certPEM, then chainPEM). Blocks of other types are
// ignored.
func exportParseCerts(name string, certPEM, chainPEM []byte) (*x509.Certificate, []*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, in := range [][]byte{certPEM, chainPEM} {
		for rest := in; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: parsing certificate %d: %w: %v", name, len(certs), ErrBadCertificate, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, nil, fmt.Errorf("%s: reading certificate PEM: %w", name, ErrNoCertificate)
		}
	}
	return certs[0], certs[1:], nil
}

// exportParseKey returns the first private key block of keyPEM and its key.
func exportParseKey(keyPEM []byte) (*pem.Block, crypto.Signer, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, nil, ErrNoKey
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default: // encrypted or unknown
			return nil, nil, fmt.Errorf("%w: unsupported PEM type %q", ErrNoKey, b.Type)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoKey, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %T cannot sign", ErrNoKey, k)
		}
		return b, s, nil
	}
}

// exportKeyMatches checks that key is the private half of leaf's public key.
func exportKeyMatches(key crypto.Signer, leaf *x509.Certificate) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch key.Public().(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrNoKey, key)
	}
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(leaf.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// pemCerts encodes certs as consecutive CERTIFICATE blocks.
func pemCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// stagedFile is a complete, synced temporary file waiting to be renamed to
// path.
type stagedFile struct {
	tmp, path string
}

// stageFile writes data to a new temporary file next to path, with mode,
// and syncs it.
func stageFile(path string, data []byte, mode os.FileMode) (*stagedFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	s := &stagedFile{tmp: f.Name(), path: path}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // exact, whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.discard()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return s, nil
}

// commit renames the staged file into place.
func (s *stagedFile) commit() error {
	if err := os.Rename(s.tmp, s.path); err != nil {
		s.discard()
		return err
	}
	return nil
}

// discard removes the staged file.
func (s *stagedFile) discard() { _ = os.Remove(s.tmp) }

// Reload runs t.ReloadCmd (an argv: argv[0] looked up in PATH, no shell)
// and waits for it; an empty ReloadCmd runs nothing. The command runs in
// its own process group, killed as a whole when t.ReloadTimeout (0 means
// [DefaultReloadTimeout]) passes, returning an error matching
// [ErrCommandTimeout], or when ctx is done. Its combined output (the last
// 64 KiB) is logged at info level and, on failure, its tail is quoted in the
// error. logger nil discards logs.
func Reload(ctx context.Context, t FileTarget, logger *slog.Logger) error {
	if len(t.ReloadCmd) == 0 {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := t.ReloadTimeout
	if timeout <= 0 {
		timeout = DefaultReloadTimeout
	}
	argv := t.ReloadCmd
	start := time.Now()
	out, err := RunCommand(ctx, argv, nil, timeout)
	attrs := []any{"command", argv[0], "duration", time.Since(start), "output", string(out)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	logger.Info("reload command ran", attrs...)
	if err == nil {
		return nil
	}
	s := strings.TrimSpace(string(out))
	if len(s) > commandErrOutputMax {
		s = "..." + s[len(s)-commandErrOutputMax:]
	}
	if s != "" {
		return fmt.Errorf("reload command %q: %w (output: %q)", argv[0], err, s)
	}
	return fmt.Errorf("reload command %q: %w", argv[0], err)
}

// RunCommand runs argv, without a shell, with the process environment plus
// env, in a new process group that is killed as a whole when timeout passes
// (returning an error matching [ErrCommandTimeout]) or when ctx is done. It
// returns the last 64 KiB of the combined output. A command that exits 0 but
// leaves a process holding its output succeeds after a short grace. It runs
// reload commands here and certctl's renewal hooks.
func RunCommand(ctx context.Context, argv, env []string, timeout time.Duration) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	buf := &tailBuffer{max: commandOutputMax}
	cmd.Stdout, cmd.Stderr = buf, buf
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process) }
	cmd.WaitDelay = commandOutputGrace

	err := cmd.Run()
	out := buf.bytes()
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return out, fmt.Errorf("killed: %w", context.Cause(ctx))
	case tctx.Err() != nil:
		return out, fmt.Errorf("killed after %v: %w", timeout, ErrCommandTimeout)
	case errors.Is(err, exec.ErrWaitDelay):
		return out, nil // exited 0, but left a process holding its output
	}
	return out, err
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		b.dropped = b.dropped || len(p) > b.max
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return append([]byte("[output truncated]\n"), b.buf...)
	}
	return bytes.Clone(b.buf)
}

// ReadPassword resolves a PFX password: the content of file, with trailing
// newlines (\n, \r\n) removed, when file is set; else the value of the
// environment variable named env, which must be set (it may be empty). Both
// empty means no password: "" and nil.
func ReadPassword(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading PFX password: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s: environment variable not set: %w", env, ErrNoPassword)
		}
		return v, nil
	}
	return "", nil
}
