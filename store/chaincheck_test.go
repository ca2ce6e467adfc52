package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/testpki"
)

// TestChainMark_StaleMarkIgnored checks that a stored chain check mark
// counts only for the fullchain it was made of: a record whose leaf was
// replaced behind the store's back (its JSON edited, the mark kept) loads
// unverified, and a Put of it checks the new chain instead of keeping the
// stale mark.
func TestChainMark_StaleMarkIgnored(t *testing.T) {
	now := time.Now()
	root := testpki.NewRoot(t, "Mark Root")
	inter := root.SubCA(t, "Mark Intermediate", now.Add(-time.Hour), now.Add(48*time.Hour))
	other := root.SubCA(t, "Other Intermediate", now.Add(-time.Hour), now.Add(48*time.Hour))
	good := inter.Issue(t, testpki.LeafSpec{Names: []string{"mark.example"}})
	c := &Certificate{Name: "mark.example", Domains: []string{"mark.example"}}
	c.AddVersion(Version{Seq: 1, CertPEM: good.CertPEM(), ChainPEM: inter.PEM(), KeyPEM: good.KeyPEM(t)})
	_, data, err := encodeCert(nil, c, now)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeCert(nil, c.Name, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := activePEM(dec, dec.ActiveVersion()); err != nil || !a.ChainVerified {
		t.Fatalf("activePEM of a checked record: ChainVerified %v, err %v; want true", a.ChainVerified, err)
	}

	// Swap in a leaf of another intermediate, keeping the mark.
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["chain_checked"] == nil {
		t.Fatal("stored record has no chain_checked mark")
	}
	stranger := other.Issue(t, testpki.LeafSpec{Names: []string{"mark.example"}})
	raw["versions"].([]any)[0].(map[string]any)["cert_pem"] = stranger.CertPEM()
	edited, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	dec, err = decodeCert(nil, c.Name, edited, 2)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := activePEM(dec, dec.ActiveVersion()); err != nil || a.ChainVerified {
		t.Fatalf("activePEM of an edited record: ChainVerified %v, err %v; want false", a.ChainVerified, err)
	}
	rec, _, err := encodeCert(nil, dec, now)
	if err != nil {
		t.Fatal(err)
	}
	if rec.chainChecked != nil {
		t.Error("writing the edited record kept a chain check mark; its chain is not signed")
	}
}
