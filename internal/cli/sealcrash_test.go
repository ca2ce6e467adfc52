package cli_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl/store"
)

// Kill drill for store conversions: `certctl store rekey`, run as a real
// process over a store of many records, is killed with SIGKILL at a random
// point, again and again, alternating between two keys. After every kill
// no record is lost and every key opens with one of the two keys and is
// the key it was; on bbolt no record is ever half converted (one
// transaction), on etcd each record is in its old or its new form. Running
// the same command again finishes the conversion: then only the new key
// opens the store.
func TestCrash_KilledRekeyLosesNothing(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range backendKinds {
		t.Run(kind, func(t *testing.T) {
			u := newStoreURL(t, kind)
			dir := t.TempDir()
			keyFiles := []string{filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")}
			var keys [][]byte
			for _, f := range keyFiles {
				if err := store.GenerateSealKeyFile(f); err != nil {
					t.Fatal(err)
				}
				k, err := store.ReadSealKeyFile(f)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			ctx := context.Background()
			s, err := store.OpenURL(ctx, u, &store.Options{SealKey: keys[0]})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{} // name/seq -> key
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			const n = 60
			for i := range n {
				name := fmt.Sprintf("k%02d.example", i)
				c := &store.Certificate{Name: name, Domains: []string{name}, KeyType: "ec256", Directory: "https://ca.example/dir"}
				for seq := 1; seq <= 2; seq++ {
					v := selfSigned(t, name, seq, base)
					want[fmt.Sprintf("%s/%d", name, seq)] = v.KeyPEM
					c.AddVersion(v)
				}
				if err := s.Put(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			acct := &store.Account{Directory: "https://ca.example/dir", Email: "ops@example.com", KeyPEM: []byte("account key")}
			if err := s.PutAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Reseal(ctx, s); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()

			// check verifies the store with opts; every key must open and be
			// as written. It returns how many keys the first key of opts
			// (the new one) sealed.
			check := func(what string, opts *store.Options) (converted, total int) {
				t.Helper()
				b, err := store.OpenURL(ctx, u, opts)
				if err != nil {
					t.Fatalf("%s: the store does not open: %v", what, err)
				}
				defer b.Close()
				only, err := store.OpenURL(ctx, u, &store.Options{SealKey: opts.SealKey})
				if err != nil {
					t.Fatal(err)
				}
				defer only.Close()
				certs, err := b.List(ctx)
				if err != nil || len(certs) != n {
					t.Fatalf("%s: %d certificates, %v", what, len(certs), err)
				}
				for _, c := range certs {
					oc, err := only.Get(ctx, c.Name)
					if err != nil {
						t.Fatal(err)
					}
					for i, v := range c.Versions {
						k, err := v.Key()
						if err != nil || string(k) != string(want[fmt.Sprintf("%s/%d", c.Name, v.Seq)]) {
							t.Fatalf("%s: %s version %d: %v", what, c.Name, v.Seq, err)
						}
						total++
						switch _, err := oc.Versions[i].Key(); {
						case err == nil:
							converted++
						case !errors.Is(err, store.ErrWrongKey):
							t.Fatalf("%s: %s version %d with the new key alone: %v", what, c.Name, v.Seq, err)
						}
					}
				}
				a, err := b.GetAccount(ctx, acct.Directory, acct.Email)
				if err != nil {
					t.Fatal(err)
				}
				if k, err := a.Key(); err != nil || string(k) != "account key" {
					t.Fatalf("%s: account: %v", what, err)
				}
				return converted, total
			}

			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
			var killed, finished, mixed int
			for i := range 6 {
				oldF, newF := keyFiles[i%2], keyFiles[(i+1)%2]
				oldK, newK := keys[i%2], keys[(i+1)%2]
				args := []string{"--store", u, "--store-key-file", oldF, "store", "rekey", "--new-key-file", newF}
				cmd := exec.Command(bin, args...)
				cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY=", "CERTCTL_STORE_KEY_FILE=")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// A file store converts in a few milliseconds after the
				// process starts, etcd in a few hundred: aim the kills there.
				window := 40 * time.Millisecond
				if kind == "etcd" {
					window = 400 * time.Millisecond
				}
				kill := time.AfterFunc(time.Duration(rng.Int64N(int64(window))), func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
				err := cmd.Wait()
				if !kill.Stop() {
					killed++
				} else if err != nil {
					t.Fatalf("rekey %d: %v", i, err)
				} else {
					finished++
				}
				what := fmt.Sprintf("after kill %d", i)
				conv, total := check(what, &store.Options{SealKey: newK, UnsealKeys: [][]byte{oldK}})
				if conv != 0 && conv != total {
					mixed++
					if kind == "bbolt" {
						t.Fatalf("%s: %d of %d keys converted: the transaction was cut", what, conv, total)
					}
				}
				// The same command again finishes the work.
				if code, out, errs := runEnv(nil, args...); code != 0 {
					t.Fatalf("rekey %d again: exit %d\n%s\n%s", i, code, out, errs)
				}
				if conv, total := check(what+", run again", &store.Options{SealKey: newK}); conv != total {
					t.Fatalf("%s, run again: %d of %d keys converted", what, conv, total)
				}
			}
			t.Logf("%s: 6 rekeys: %d killed midway or before (%d left a store half converted, every record whole), %d finished first",
				kind, killed, mixed, finished)
		})
	}
}
