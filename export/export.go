package export

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/internal/fsx"
)

// Names of the files of certbot's layout, which [Export] writes in DIR/NAME/
// and [WriteDir] in a directory.
const (
	CertFile      = "cert.pem"      // the leaf certificate
	ChainFile     = "chain.pem"     // the issuers, leaf excluded (may be empty)
	FullchainFile = "fullchain.pem" // the leaf followed by the issuers
	KeyFile       = "privkey.pem"   // the private key
)

// DefaultReloadTimeout is how long Reload lets a command run when the
// target's ReloadTimeout is zero.
const DefaultReloadTimeout = time.Minute

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
	// PFXLegacy selects the PFX's encryption. false (the default) is
	// go-pkcs12's Modern2023: keys and certificates encrypted with
	// AES-256-CBC under PBKDF2-HMAC-SHA-256, a HMAC-SHA-256 MAC; Windows
	// Server 2019 and later, Windows 10 1709 and later, OpenSSL 1.1.1 and
	// later and Java 12 and later import it. Windows Server 2016 and
	// earlier cannot (they know only the PKCS#12 PBE schemes), so true
	// gives go-pkcs12's LegacyDES: keys and certificates encrypted with
	// 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC), a HMAC-SHA-1 MAC. That is
	// what those Windows versions write themselves (Export-PfxCertificate
	// -CryptoAlgorithmOption TripleDES_SHA1), and OpenSSL 3 still reads it
	// with its default provider. The other legacy profile, LegacyRC2,
	// encrypts certificates with 40-bit RC2: weaker, and refused by
	// OpenSSL 3 without -legacy. A legacy file's encryption is weak: keep
	// it where only the server's account can read it (Export writes it
	// 0600).
	PFXLegacy bool
	// ReloadCmd is run by [Reload] as an argv, never through a shell. Empty
	// means nothing is run.
	ReloadCmd []string
	// ReloadTimeout bounds ReloadCmd; 0 means [DefaultReloadTimeout].
	ReloadTimeout time.Duration
	// KeyHeldElsewhere says the certificate's private key is not certctl's
	// (it was ordered with the user's CSR): [Export] is given no key, writes
	// no privkey.pem and refuses a PFX ([ErrKeyHeldElsewhere]).
	KeyHeldElsewhere bool
}

// ExportedFiles are the paths Export wrote; "" for a file not written.
type ExportedFiles struct {
	Cert, Chain, Fullchain, Key, PFX string
}

// Export writes the certificate named name for t: the PEM files
// DIR/NAME/{cert,chain,fullchain,privkey}.pem when t.Dir is set, and the
// PKCS#12 file t.PFX (leaf, chain and key, encrypted with t.PFXPassword in
// the profile [FileTarget.PFXLegacy] selects) when t.PFX is set.
//
// certPEM holds the leaf, optionally followed by its issuers; chainPEM holds
// further issuers (it may be empty). keyPEM holds the private key (PKCS#8,
// SEC 1 or PKCS#1). name must be a valid certificate name ([ErrInvalidName]):
// a plain file name, without '/', '\', "..", spaces or control characters,
// not starting with '-'.
//
// Everything is validated first (the PEM parses, the key matches the leaf)
// and the PFX's directory checked. The PEM files of DIR/NAME are then
// replaced as a set ([fsx.ReplaceDir]): written into a fresh directory
// beside it that trades places with DIR/NAME in one atomic exchange on
// Linux, so a server, or a crash at any point, never pairs a new
// certificate with an old key (other systems replace the files one by one,
// each atomically). The PFX is then replaced atomically. A failure leaves
// the previous export untouched; a server should be reloaded (see [Reload])
// after Export returns. NAME is created 0700 (an existing one keeps its
// mode, less group and other write), privkey.pem and the PFX are 0600, the
// other files 0644; missing parents of Dir and of the PFX are created 0755.
//
// Nothing is written through a symbolic link: DIR/NAME and the PFX's parent
// directory must be real directories owned by the current user (whose group
// and other write permission is then removed) or by root (without them);
// otherwise Export fails with [ErrUnsafeDir] before writing anything. Links
// in the parents of Dir and of the PFX's directory are followed.
func Export(name string, certPEM, chainPEM, keyPEM []byte, t FileTarget) (ExportedFiles, error) {
	if err := certpem.CheckName(name); err != nil {
		return ExportedFiles{}, err
	}
	if t.Dir == "" && t.PFX == "" {
		return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, ErrNoTarget)
	}
	if t.KeyHeldElsewhere && t.PFX != "" {
		return ExportedFiles{}, fmt.Errorf("%s: exporting a PFX: %w", name, ErrKeyHeldElsewhere)
	}
	m, err := parse(certPEM, chainPEM, keyPEM, t.KeyHeldElsewhere)
	if err != nil {
		return ExportedFiles{}, fmt.Errorf("%s: %w", name, err)
	}
	var pfx []byte
	if t.PFX != "" {
		if pfx, err = encodePFX(m, t.PFXPassword, t.PFXLegacy); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: encoding PFX: %w", name, err)
		}
		if err := os.MkdirAll(filepath.Dir(t.PFX), 0o755); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
	}
	if t.PFX != "" {
		// Check the PFX's directory before writing anything.
		r, err := fsx.OpenPrivateDir(filepath.Dir(t.PFX))
		if err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		_ = r.Close()
	}
	var out ExportedFiles
	if t.Dir != "" {
		// DIR/NAME is certctl's own: its files are replaced as a set, so
		// a server never reads a new certificate with an old key, even
		// after a crash midway.
		dir := filepath.Join(t.Dir, name)
		if err := os.MkdirAll(t.Dir, 0o755); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		var files []fsx.File
		files, out = pemFiles(dir, m)
		if err := fsx.ReplaceDir(dir, files...); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
	}
	if t.PFX != "" {
		if err := fsx.WritePrivateFiles(fsx.File{Path: t.PFX, Data: pfx, Perm: 0o600}); err != nil {
			return ExportedFiles{}, fmt.Errorf("%s: exporting: %w", name, err)
		}
		out.PFX = t.PFX
	}
	return out, nil
}

// WriteDir writes a certificate's PEM files in certbot's layout straight
// into dir: dir/{cert,chain,fullchain,privkey}.pem, given and checked as for
// [Export] and written the same way, with the same checks on dir (which
// must not be a symbolic link: [ErrUnsafeDir]). dir and its missing parents
// are created 0700. Errors name the file or directory concerned; the caller adds the
// certificate's name.
func WriteDir(dir string, certPEM, chainPEM, keyPEM []byte) (ExportedFiles, error) {
	m, err := parse(certPEM, chainPEM, keyPEM, false)
	if err != nil {
		return ExportedFiles{}, err
	}
	return writeDir(dir, m)
}

// WriteCertDir is [WriteDir] for a certificate whose private key is held
// elsewhere (ordered with the user's CSR): it writes cert.pem, chain.pem and
// fullchain.pem, and removes a privkey.pem left in dir by an earlier export,
// which no longer matches.
func WriteCertDir(dir string, certPEM, chainPEM []byte) (ExportedFiles, error) {
	m, err := parse(certPEM, chainPEM, nil, true)
	if err != nil {
		return ExportedFiles{}, err
	}
	out, err := writeDir(dir, m)
	if err != nil {
		return out, err
	}
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return out, err
	}
	return out, nil
}

func writeDir(dir string, m *material) (ExportedFiles, error) {
	var w writer
	out, err := w.pemDir(dir, 0o700, m)
	if err == nil {
		err = w.write()
	}
	if err != nil {
		return ExportedFiles{}, err
	}
	return out, nil
}

// encodePFX encodes m as a PKCS#12 file in the profile legacy selects (see
// [FileTarget.PFXLegacy]).
func encodePFX(m *material, password string, legacy bool) ([]byte, error) {
	enc := pkcs12.Modern2023
	if legacy {
		enc = pkcs12.LegacyDES
	}
	return enc.Encode(m.key, m.leaf, m.chain, password)
}

// material is a validated certificate: its leaf, its issuers and its key
// (nil when held elsewhere).
type material struct {
	leaf     *x509.Certificate
	chain    []*x509.Certificate
	key      crypto.Signer
	keyBlock *pem.Block
}

// parse reads and checks what Export and WriteDir are given.
func parse(certPEM, chainPEM, keyPEM []byte, keyless bool) (*material, error) {
	certs, err := certpem.ParseChain(certPEM, chainPEM)
	if err != nil {
		return nil, fmt.Errorf("reading certificate PEM: %w", err)
	}
	if keyless {
		return &material{leaf: certs[0], chain: certs[1:]}, nil
	}
	key, block, err := certpem.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("reading key PEM: %w", err)
	}
	if err := certpem.KeyMatches(key, certs[0]); err != nil {
		return nil, err
	}
	return &material{leaf: certs[0], chain: certs[1:], key: key, keyBlock: block}, nil
}

// writer gathers the files of one export and writes them together.
type writer struct {
	files   []fsx.File
	created string // a directory this export created, removed if it fails
}

// pemDir creates dir 0700, and its missing parents with parentPerm, and adds
// m's PEM files in it.
func (w *writer) pemDir(dir string, parentPerm os.FileMode, m *material) (ExportedFiles, error) {
	if err := os.MkdirAll(filepath.Dir(dir), parentPerm); err != nil {
		return ExportedFiles{}, err
	}
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		w.created = dir
	case !errors.Is(err, os.ErrExist):
		return ExportedFiles{}, err
	}
	files, out := pemFiles(dir, m)
	w.files = append(w.files, files...)
	return out, nil
}

// pemFiles are m's PEM files in dir, in certbot's layout.
func pemFiles(dir string, m *material) ([]fsx.File, ExportedFiles) {
	out := ExportedFiles{
		Cert:      filepath.Join(dir, CertFile),
		Chain:     filepath.Join(dir, ChainFile),
		Fullchain: filepath.Join(dir, FullchainFile),
		Key:       filepath.Join(dir, KeyFile),
	}
	leafPEM, chainPEM := certpem.EncodeCertificates(m.leaf), certpem.EncodeCertificates(m.chain...)
	files := []fsx.File{
		{Path: out.Cert, Data: leafPEM, Perm: 0o644},
		{Path: out.Chain, Data: chainPEM, Perm: 0o644},
		{Path: out.Fullchain, Data: certpem.Fullchain(leafPEM, chainPEM), Perm: 0o644},
	}
	if m.keyBlock == nil {
		out.Key = ""
		return files, out
	}
	return append([]fsx.File{{Path: out.Key, Data: pem.EncodeToMemory(m.keyBlock), Perm: 0o600}}, files...), out
}

// write writes the gathered files with [fsx.WritePrivateFiles]. If that fails, a
// directory this export created is removed again (it is empty unless a
// rename failed midway); if it succeeds, the creation is made durable.
func (w *writer) write() error {
	if err := fsx.WritePrivateFiles(w.files...); err != nil {
		if w.created != "" {
			_ = os.Remove(w.created)
		}
		return err
	}
	if w.created != "" {
		return fsx.SyncDir(filepath.Dir(w.created))
	}
	return nil
}

// Remove deletes the files [Export] writes for the certificate named name
// and t, and returns the paths it deleted: DIR/NAME/privkey.pem first,
// then the PFX (which holds the key too), then the certificate files, and
// DIR/NAME itself once empty. Files already missing are skipped; files of
// other names in DIR/NAME are left, and so is DIR/NAME then.
//
// Nothing is deleted through a symbolic link: DIR/NAME and the PFX's
// directory are checked as for Export ([ErrUnsafeDir]), and a link in the
// place of one of the files is deleted itself, never its target. When a
// file cannot be deleted, Remove stops and returns what it deleted so far
// with the error.
func Remove(name string, t FileTarget) ([]string, error) {
	if err := certpem.CheckName(name); err != nil {
		return nil, err
	}
	var removed []string
	var dir *os.Root
	if t.Dir != "" {
		d, err := openExisting(filepath.Join(t.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: removing exported files: %w", name, err)
		}
		if dir = d; dir != nil {
			defer dir.Close()
			if err := removeIn(dir, dir.Name(), KeyFile, &removed); err != nil {
				return removed, fmt.Errorf("%s: removing exported files: %w", name, err)
			}
		}
	}
	if t.PFX != "" {
		d, err := openExisting(filepath.Dir(t.PFX))
		if err != nil {
			return removed, fmt.Errorf("%s: removing exported files: %w", name, err)
		}
		if d != nil {
			err = removeIn(d, filepath.Dir(t.PFX), filepath.Base(t.PFX), &removed)
			_ = d.Close()
			if err != nil {
				return removed, fmt.Errorf("%s: removing exported files: %w", name, err)
			}
		}
	}
	if dir == nil {
		return removed, nil
	}
	for _, f := range []string{CertFile, ChainFile, FullchainFile} {
		if err := removeIn(dir, dir.Name(), f, &removed); err != nil {
			return removed, fmt.Errorf("%s: removing exported files: %w", name, err)
		}
	}
	if err := fsx.SyncDir(dir.Name()); err != nil {
		return removed, fmt.Errorf("%s: removing exported files: %w", name, err)
	}
	// DIR/NAME goes too if nothing else is in it; checked again, so that
	// a directory swapped for a link meanwhile is left alone.
	if fi, err := os.Lstat(dir.Name()); err == nil && fi.IsDir() {
		if rfi, err := dir.Stat("."); err == nil && os.SameFile(fi, rfi) && os.Remove(dir.Name()) == nil {
			removed = append(removed, dir.Name())
		}
	}
	return removed, nil
}

// openExisting opens the directory path as [fsx.OpenPrivateDir] does, or
// returns nil if it does not exist.
func openExisting(path string) (*os.Root, error) {
	r, err := fsx.OpenPrivateDir(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return r, err
}

// removeIn deletes file in the directory r (named path), if it exists, and
// adds its path to removed. A symbolic link is deleted, not its target.
func removeIn(r *os.Root, path, file string, removed *[]string) error {
	err := r.Remove(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	*removed = append(*removed, filepath.Join(path, file))
	return nil
}

// Exported returns the files of [Export] for name and t that exist, in the
// order [Remove] deletes them.
func Exported(name string, t FileTarget) []string {
	var paths []string
	add := func(p string) {
		if _, err := os.Lstat(p); err == nil {
			paths = append(paths, p)
		}
	}
	dir := filepath.Join(t.Dir, name)
	if t.Dir != "" {
		add(filepath.Join(dir, KeyFile))
	}
	if t.PFX != "" {
		add(t.PFX)
	}
	if t.Dir != "" {
		for _, f := range []string{CertFile, ChainFile, FullchainFile} {
			add(filepath.Join(dir, f))
		}
	}
	return paths
}
