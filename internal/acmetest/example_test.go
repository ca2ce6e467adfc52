package acmetest_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/certctl/certctl/internal/acmetest"
)

// ExampleStart starts a CA on a free loopback port and reads its ACME
// directory with the client that trusts it.
func ExampleStart() {
	s, err := acmetest.Start(acmetest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	resp, err := s.HTTPClient().Get(s.DirectoryURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	fmt.Println(strings.HasPrefix(s.DirectoryURL(), "https://127.0.0.1:"))
	fmt.Println(resp.Status, strings.Contains(string(body), `"newOrder"`))
	// Output:
	// true
	// 200 OK true
}
