// Package certpem is certctl's one home for certificate material in PEM form.
//
// [ParseChain] parses a certificate chain, leaf first; [ParsePrivateKey]
// parses a private key (PKCS #1, PKCS #8 or SEC 1); [KeyMatches] checks that
// a key is the private half of a leaf's public key. [EncodeCertificates] and
// [Fullchain] build the PEM files servers read, and [SerialHex] formats a
// serial number as certctl stores and prints it. [CheckName] is the one rule
// for certificate names, which serve as store keys, lock file names and
// export directory names.
package certpem
