package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/etcdtest"
)

// The member serves, keeps its data across a restart, and compacts.
func TestServer_RestartKeepsData(t *testing.T) {
	s := etcdtest.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart: %v", resp.Kvs)
	}
	rev, err := s.Compact(ctx)
	if err != nil || rev < 2 {
		t.Fatalf("compact: rev %d, %v", rev, err)
	}
}
