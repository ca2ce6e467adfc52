package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment of the helper process started by the tests below.
const (
	envHelper = "CERTCTL_STORE_TEST_HELPER" // mode: hold, try, write
	envPath   = "CERTCTL_STORE_TEST_PATH"   // a path or an etcd URL
	envName   = "CERTCTL_STORE_TEST_NAME"
	envCount  = "CERTCTL_STORE_TEST_COUNT"
)

// TestHelperProcess is not a test: it is the child process that the
// cross-process tests start by re-executing the test binary. It does nothing
// unless envHelper is set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		return
	}
	if err := helperMain(mode); err != nil {
		fmt.Fprintln(os.Stdout, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperMain(mode string) error {
	ctx := context.Background()
	db, err := OpenURL(ctx, os.Getenv(envPath), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	name := os.Getenv(envName)
	switch mode {
	case "hold":
		// Take the lock, say so, and keep it until stdin closes.
		unlock, err := db.Lock(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stdout, "locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		unlock()
		return nil
	case "try":
		unlock, ok, err := db.TryLock(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			unlock()
			fmt.Fprintln(os.Stdout, "acquired")
		} else {
			fmt.Fprintln(os.Stdout, "busy")
		}
		return nil
	case "write":
		n, err := strconv.Atoi(os.Getenv(envCount))
		if err != nil {
			return err
		}
		for i := range n {
			target := fmt.Sprintf("%s-%d", name, i%3)
			_, err := Update(ctx, db, target, bumpRecord)
			if err != nil {
				return err
			}
		}
		fmt.Fprintln(os.Stdout, "done")
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// bumpRecord is the write the writer child repeats: every field it touches
// must stay consistent with Attempts, so a torn or mixed read shows.
func bumpRecord(c *Certificate) error {
	c.Renewal.Attempts++
	c.Renewal.LastError = strconv.Itoa(c.Renewal.Attempts)
	v := testVersion(c.NextSeq())
	v.Serial = "attempt-" + c.Renewal.LastError
	c.AddVersion(v)
	return nil
}

// checkRecord verifies the invariants bumpRecord keeps.
func checkRecord(c *Certificate) error {
	if c.Renewal.Attempts == 0 && c.Renewal.LastError == "" {
		return nil
	}
	if c.Renewal.LastError != strconv.Itoa(c.Renewal.Attempts) {
		return fmt.Errorf("%s: LastError %q with Attempts %d", c.Name, c.Renewal.LastError, c.Renewal.Attempts)
	}
	av := c.ActiveVersion()
	if c.Renewal.Attempts > 0 && (av == nil || av.Serial != "attempt-"+c.Renewal.LastError) {
		return fmt.Errorf("%s: active version %+v does not match attempt %d", c.Name, av, c.Renewal.Attempts)
	}
	if len(c.Versions) > MaxVersions {
		return fmt.Errorf("%s: %d versions", c.Name, len(c.Versions))
	}
	return nil
}

// child is a running helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startChild re-executes the test binary as a helper in mode.
func startChild(t *testing.T, mode, path, name string, extraEnv ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path, envName+"="+name)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		_ = stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
	})
	return c
}

// line returns the child's next output line.
func (c *child) line(t *testing.T) string {
	t.Helper()
	if !c.out.Scan() {
		t.Fatalf("helper process ended without output: %v", c.out.Err())
	}
	return strings.TrimSpace(c.out.Text())
}

// wait waits for the child to exit successfully.
func (c *child) wait(t *testing.T) {
	t.Helper()
	_ = c.stdin.Close()
	for c.out.Scan() {
		t.Logf("helper: %s", c.out.Text())
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
}

func TestDB_Lock_ExcludesGoroutines(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	other, err := Open(db.Path(), nil) // a second DB value on the same file
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := db.Lock(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*DB{db, other} {
		if _, ok, err := s.TryLock(ctx, "a.example"); ok || err != nil {
			t.Fatalf("TryLock while held = %v, %v; want false, nil", ok, err)
		}
	}
	if u, ok, err := db.TryLock(ctx, "b.example"); !ok || err != nil {
		t.Fatalf("TryLock of another name = %v, %v; want true", ok, err)
	} else {
		u()
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = other.Lock(tctx, "a.example")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held = %v, want context.DeadlineExceeded", err)
	}

	// A waiter gets the lock once it is released.
	got := make(chan error, 1)
	go func() {
		u, err := other.Lock(ctx, "a.example")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	unlock() // twice is harmless
	if err := <-got; err != nil {
		t.Fatalf("waiting Lock = %v", err)
	}

	// Many goroutines: the critical sections never overlap. counter is a
	// plain int guarded only by the lock, so -race also checks that Lock
	// gives the happens-before edges a mutex gives.
	var (
		inside  atomic.Int32
		counter int
		wg      sync.WaitGroup
		overlap = make(chan int32, 100)
	)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				u, err := db.Lock(ctx, "a.example")
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					overlap <- n
				}
				counter++
				inside.Add(-1)
				u()
			}
		})
	}
	wg.Wait()
	close(overlap)
	for n := range overlap {
		t.Fatalf("%d goroutines inside the lock at once", n)
	}
	if counter != 8*5 {
		t.Fatalf("counter = %d, want 40", counter)
	}
}

func TestDB_Lock_ExcludesProcesses(t *testing.T) {
	db := openTest(t, nil)
	testLockExcludesProcesses(t, db, db.Path())
}

// testLockExcludesProcesses checks that the per-certificate locks of db
// exclude child processes that open the store at loc, both ways.
func testLockExcludesProcesses(t *testing.T, db Store, loc string) {
	ctx := context.Background()

	// A child process holds the lock: this process cannot take it.
	holder := startChild(t, "hold", loc, "a.example")
	if l := holder.line(t); l != "locked" {
		t.Fatalf("helper said %q, want locked", l)
	}
	if _, ok, err := db.TryLock(ctx, "a.example"); ok || err != nil {
		t.Fatalf("TryLock while a child holds the lock = %v, %v; want false", ok, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := db.Lock(tctx, "a.example")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while a child holds the lock = %v, want context.DeadlineExceeded", err)
	}
	holder.wait(t) // closes its stdin: it unlocks and exits
	unlock, err := db.Lock(ctx, "a.example")
	if err != nil {
		t.Fatalf("Lock after the child released = %v", err)
	}

	// This process holds it: a child cannot take it.
	try := startChild(t, "try", loc, "a.example")
	if l := try.line(t); l != "busy" {
		t.Fatalf("child TryLock while parent holds = %q, want busy", l)
	}
	try.wait(t)
	unlock()
	try = startChild(t, "try", loc, "a.example")
	if l := try.line(t); l != "acquired" {
		t.Fatalf("child TryLock after parent released = %q, want acquired", l)
	}
	try.wait(t)
}

func TestUpdate_ConcurrentWritersAllSucceed(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	mustPut(t, db, &Certificate{Name: "a"})
	gen0, _ := db.Generation(ctx)
	const goroutines, each = 8, 10
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := Update(ctx, db, "a", bumpRecord); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, err := db.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Renewal.Attempts != goroutines*each {
		t.Fatalf("Attempts = %d, want %d: updates were lost", c.Renewal.Attempts, goroutines*each)
	}
	if err := checkRecord(c); err != nil {
		t.Fatal(err)
	}
	if gen, _ := db.Generation(ctx); gen != gen0+goroutines*each || c.Revision != gen {
		t.Fatalf("generation %d (revision %d), want %d", gen, c.Revision, gen0+goroutines*each)
	}
}

func TestUpdate_FnErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	mustPut(t, db, &Certificate{Name: "a"})
	boom := errors.New("boom")
	if _, err := Update(ctx, db, "a", func(c *Certificate) error { c.KeyType = "rsa2048"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if c, _ := db.Get(ctx, "a"); c.KeyType != "" || c.Revision != 1 {
		t.Fatalf("failed Update wrote: %+v", c)
	}
	if _, err := Update(ctx, db, "missing", bumpRecord); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of a missing record = %v, want ErrNotFound", err)
	}
	if _, err := Update(ctx, db, "a", func(c *Certificate) error { c.Name = "b"; return nil }); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Update renaming the record = %v, want ErrInvalidRecord", err)
	}
}

// conflictStore wraps a Store so that Put always conflicts.
type conflictStore struct{ Store }

func (conflictStore) Put(context.Context, *Certificate) error { return ErrConflict }

func TestUpdate_GivesUpOnEndlessConflicts(t *testing.T) {
	db := openTest(t, nil)
	mustPut(t, db, &Certificate{Name: "a"})
	calls := 0
	_, err := Update(context.Background(), conflictStore{db}, "a", func(*Certificate) error { calls++; return nil })
	if !errors.Is(err, ErrConflict) || calls != updateAttempts {
		t.Fatalf("Update = %v after %d calls, want ErrConflict after %d", err, calls, updateAttempts)
	}
}

func TestDB_List_WhileOtherProcessWrites(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, nil)
	for i := range 3 {
		mustPut(t, db, &Certificate{Name: fmt.Sprintf("w-%d", i)})
	}
	const writes = 150
	writer := startChild(t, "write", db.Path(), "w", envCount+"="+strconv.Itoa(writes))
	done := make(chan error, 1)
	go func() {
		l := ""
		if writer.out.Scan() {
			l = writer.out.Text()
		}
		if l != "done" {
			done <- fmt.Errorf("writer said %q", l)
			return
		}
		done <- nil
	}()

	// Several reader goroutines keep overlapping read transactions going, so
	// the file is never free of readers: the writer must still get in.
	var (
		mu    sync.Mutex
		last  = map[string]int{}
		reads atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for range 3 {
		wg.Go(func() {
			seen := map[string]int{} // this goroutine's reads are sequential
			for {
				select {
				case <-stop:
					return
				default:
				}
				list, err := db.List(ctx)
				if err != nil {
					t.Errorf("List while another process writes: %v", err)
					return
				}
				reads.Add(1)
				mu.Lock()
				for _, c := range list {
					if err := checkRecord(c); err != nil {
						t.Error(err)
					}
					if c.Renewal.Attempts < seen[c.Name] {
						t.Errorf("%s went back from attempt %d to %d", c.Name, seen[c.Name], c.Renewal.Attempts)
					}
					seen[c.Name] = c.Renewal.Attempts
					last[c.Name] = max(last[c.Name], c.Renewal.Attempts)
				}
				mu.Unlock()
			}
		})
	}
	err := <-done
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	writer.wait(t)
	total := 0
	for _, n := range last {
		total += n
	}
	if total != writes {
		t.Fatalf("after the writer finished: %d attempts in total, want %d", total, writes)
	}
	t.Logf("%d List calls while the child wrote %d times", reads.Load(), writes)
}
