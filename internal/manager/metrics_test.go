package manager

import (
	"fmt"
	"testing"
)

func TestValidateInsecureMetrics(t *testing.T) {
	const refusal = "--metrics-insecure serves metrics without authentication, so it needs a loopback --metrics-bind-address " +
		"such as 127.0.0.1:8080, not %q; drop --metrics-insecure to serve them over HTTPS with authorization"
	for _, tc := range []struct {
		addr     string
		insecure bool
		want     string
	}{
		{":8443", false, ""},
		{"0", true, ""},
		{"127.0.0.1:8080", true, ""},
		{"[::1]:8080", true, ""},
		{":8080", true, refusal},
		{"0.0.0.0:8080", true, refusal},
		{"10.0.0.5:8080", true, refusal},
		{"localhost:8080", true, refusal}, // a name could resolve anywhere
		{"8080", true, `--metrics-bind-address "8080": address 8080: missing port in address`},
	} {
		want := tc.want
		if want == refusal {
			want = fmt.Sprintf(refusal, tc.addr)
		}
		got := ""
		if err := validateInsecureMetrics(tc.addr, tc.insecure); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("validateInsecureMetrics(%q, %v) = %q, want %q", tc.addr, tc.insecure, got, want)
		}
	}
}
