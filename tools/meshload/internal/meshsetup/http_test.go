package meshsetup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A broker refusal keeps its status, code and message, and says what to
// change when the refusal is about the benchmark's own setup.
func TestRefusalsKeepTheBrokersWordsAndAHint(t *testing.T) {
	tests := []struct {
		status int
		body   string
		code   string
		hint   string
	}{
		{http.StatusForbidden, `{"error":"forbidden","message":"local clients only"}`, "forbidden", "--admin-token"},
		{http.StatusTooManyRequests, `{"error":"rate_limited","message":"slow down"}`, "rate_limited", "HTTP_RATE_LIMIT_PER_MIN"},
		{http.StatusBadGateway, `not json`, "http_502", ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/meshes" {
					t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			_, err := NewClient(srv.URL, "", 1).Create(context.Background(), "m", 3, 1)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
				t.Fatalf("err = %v", err)
			}
			if tt.hint != "" && !strings.Contains(err.Error(), tt.hint) {
				t.Fatalf("error %q lacks the hint %q", err, tt.hint)
			}
		})
	}
}
