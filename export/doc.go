// Package export puts certificates where servers that are not Go programs
// (nginx, HAProxy, IIS) read them, and tells those servers to reload.
//
// [Export] writes what a [FileTarget] names: PEM files in certbot's layout
// (cert.pem, chain.pem, fullchain.pem, privkey.pem) in DIR/NAME/, and a
// PKCS#12 (PFX) file, AES-256 encrypted or, for Windows Server 2016 and
// earlier, 3DES ([FileTarget.PFXLegacy]); [WriteDir] writes the PEM files straight into a
// directory. Every file is written atomically, after the certificate and key
// were checked to parse and match. [ExportedFiles] says what was written.
// [Reload] runs a target's reload command, and [ReadPassword] resolves a PFX
// password from a file or an environment variable.
package export
