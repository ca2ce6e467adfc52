package acme

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeCA answers the requests of one order with canned ACME objects; the
// challenge response carries retryAfter, if set.
type fakeCA struct{ retryAfter string }

func (f fakeCA) RoundTrip(req *http.Request) (*http.Response, error) {
	body := map[string]string{
		"/dir":        `{"newOrder":"https://ca/new-order"}`,
		"/new-order":  `{"authorizations":["https://ca/authz/1"],"finalize":"https://ca/finalize/1"}`,
		"/authz/1":    `{"challenges":[{"url":"https://ca/chall/1"}]}`,
		"/chall/1":    `{"status":"processing"}`,
		"/finalize/1": `{"certificate":"https://ca/cert/1"}`,
	}[req.URL.Path]
	h := http.Header{"Content-Type": {"application/json"}}
	if req.URL.Path == "/cert/1" {
		h.Set("Content-Type", "application/pem-certificate-chain")
		body = "PEM"
	}
	if req.URL.Path == "/chall/1" && f.retryAfter != "" {
		h.Set("Retry-After", f.retryAfter)
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func TestPhaseTransport_MarksStepsAndPollStart(t *testing.T) {
	for _, tc := range []struct{ caRetry, want string }{{"", challengePollStart}, {"3", "3"}} {
		p := newPhaseTransport(fakeCA{tc.caRetry})
		c := &http.Client{Transport: p}
		start := time.Now()
		var chall *http.Response
		for _, step := range []struct{ method, url string }{
			{"GET", "https://ca/dir"}, {"POST", "https://ca/new-order"}, {"POST", "https://ca/authz/1"},
			{"POST", "https://ca/chall/1"}, {"POST", "https://ca/authz/1"}, {"POST", "https://ca/finalize/1"},
			{"POST", "https://ca/cert/1"},
		} {
			req, _ := http.NewRequest(step.method, step.url, strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if step.url == "https://ca/dir" && !strings.Contains(string(b), "newOrder") {
				t.Fatalf("body not passed on: %q", b)
			}
			if step.url == "https://ca/chall/1" {
				chall = resp
			}
		}
		if got := chall.Header.Get("Retry-After"); got != tc.want {
			t.Errorf("CA Retry-After %q: lego sees %q, want %q", tc.caRetry, got, tc.want)
		}
		for i, m := range p.marks {
			if m.IsZero() {
				t.Errorf("step %d not marked", i)
			}
			if i > 0 && m.Before(p.marks[i-1]) {
				t.Errorf("step %d marked before step %d", i, i-1)
			}
		}
		tm := p.timings(start, time.Now())
		if tm.Total() <= 0 || tm.Setup < 0 || tm.Order < 0 || tm.Validation < 0 || tm.Finalize < 0 || tm.Download < 0 {
			t.Errorf("timings %+v", tm)
		}
	}
}

// Steps that did not happen (no challenge: an authorization reused) take no
// time, and the time is not lost: the steps still add up to the whole.
func TestPhaseTransport_MissingStepsTakeNoTime(t *testing.T) {
	p := newPhaseTransport(fakeCA{})
	t0 := time.Now()
	p.marks[markOrder] = t0.Add(time.Second)
	p.marks[markFinalize] = t0.Add(3 * time.Second)
	end := t0.Add(4 * time.Second)
	tm := p.timings(t0, end)
	want := Timings{Setup: time.Second, Order: 2 * time.Second, Validation: 0, Finalize: time.Second, Download: 0}
	if tm != want || tm.Total() != 4*time.Second {
		t.Fatalf("timings %+v, want %+v", tm, want)
	}
}
