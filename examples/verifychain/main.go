// Command verifychain checks that an exported certificate verifies against a
// root: go run ./examples/verifychain -root root.pem -dir EXPORTDIR -name a.test
package main

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", "", "PEM file of the trusted root")
	dir := flag.String("dir", "", "directory written by `certctl export`")
	name := flag.String("name", "", "DNS name the certificate must be valid for")
	flag.Parse()
	if err := verify(*root, *dir, *name); err != nil {
		fmt.Fprintln(os.Stderr, "verifychain:", err)
		os.Exit(1)
	}
}

func verify(rootFile, dir, name string) error {
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return fmt.Errorf("%s: no certificate", rootFile)
	}
	chainPEM, err := os.ReadFile(filepath.Join(dir, "chain.pem"))
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(chainPEM)
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return err
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return fmt.Errorf("%s/cert.pem: no PEM block", dir)
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return err
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
	if err != nil {
		return err
	}
	fmt.Printf("OK: %s (serial %x) verifies for %s through %d certificates to %q\n",
		filepath.Join(dir, "cert.pem"), leaf.SerialNumber, name, len(chains[0]), chains[0][len(chains[0])-1].Subject.CommonName)
	return nil
}
