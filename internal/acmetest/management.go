package acmetest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Certificate statuses returned by CertStatus.
const (
	StatusValid   = "Valid"
	StatusRevoked = "Revoked"
)

// NoReason is the reason CertStatus returns for a certificate that is valid
// or was revoked without a reason code.
const NoReason = -1

// maxManagementBody bounds the management answers read.
const maxManagementBody = 1 << 20

// CertStatus asks the management API (/cert-status-by-serial/) about the
// certificate with serial number serialHex (hexadecimal, any case, colons
// allowed). status is StatusValid or StatusRevoked; reason is the RFC 5280
// revocation reason code, or NoReason. A serial the CA never issued gives
// ErrNotFound.
func (s *Server) CertStatus(ctx context.Context, serialHex string) (status string, reason int, err error) {
	serial := strings.ToLower(strings.ReplaceAll(serialHex, ":", ""))
	resp, err := s.manage(ctx, http.MethodGet, "/cert-status-by-serial/"+serial, nil)
	if err != nil {
		return "", NoReason, fmt.Errorf("%s: certificate status: %w", serialHex, err)
	}
	var result struct {
		Status string
		Reason *uint
	}
	if err := decodeJSON(resp, &result, "certificate status"); err != nil {
		return "", NoReason, fmt.Errorf("%s: %w", serialHex, err)
	}
	reason = NoReason
	if result.Reason != nil {
		reason = int(*result.Reason)
	}
	return result.Status, reason, nil
}

// SetRenewalInfo makes the CA answer ARI requests for the certificate (the
// first CERTIFICATE block of certPEM) with the suggested window start-end,
// through the management API (/set-renewal-info/). A certificate the CA
// never issued gives ErrNotFound.
func (s *Server) SetRenewalInfo(ctx context.Context, certPEM []byte, start, end time.Time) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("%w: set renewal info: no CERTIFICATE PEM block", ErrBadOptions)
	}
	var window struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
	}
	window.SuggestedWindow.Start = start.UTC()
	window.SuggestedWindow.End = end.UTC()
	ari, err := json.Marshal(window)
	if err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		Certificate string
		ARIResponse string
	}{
		Certificate: string(pem.EncodeToMemory(block)),
		ARIResponse: string(ari),
	})
	if err != nil {
		return err
	}
	if _, err := s.manage(ctx, http.MethodPost, "/set-renewal-info/", body); err != nil {
		return fmt.Errorf("set renewal info: %w", err)
	}
	return nil
}

// manage sends a request to the management API and returns the body of a
// 200 answer.
func (s *Server) manage(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.ManagementURL()+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "certctl-acmetest")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManagementBody))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return data, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	default:
		return nil, fmt.Errorf("%w: %s %s: %s: %s", ErrManagement, method, path, resp.Status, bytes.TrimSpace(data))
	}
}
