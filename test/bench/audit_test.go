package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// fakeAudit is an audit log file the test writes as the API server would.
type fakeAudit struct {
	t    *testing.T
	path string
}

func (f fakeAudit) append(user, verb, resource, namespace, name string, code int) {
	f.t.Helper()
	line := fmt.Sprintf(`{"verb":%q,"user":{"username":%q},"objectRef":{"resource":%q,"namespace":%q,"name":%q},"responseStatus":{"code":%d}}`+"\n",
		verb, user, resource, namespace, name, code)
	fh, err := os.OpenFile(f.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = fh.Close() }()
	if _, err := fh.WriteString(line); err != nil {
		f.t.Fatal(err)
	}
}

func newFakeAudit(t *testing.T) (fakeAudit, *auditLog) {
	f := fakeAudit{t: t, path: filepath.Join(t.TempDir(), "audit.log")}
	log := &auditLog{path: f.path}
	log.canary = func(_ context.Context, name string) error {
		f.append(platformv1alpha1.OperatorUsername, "create", "configmaps", canaryNamespace, name, 201)
		return nil
	}
	return f, log
}

func TestAuditLogCountsTheOperatorsWritesSinceTheMark(t *testing.T) {
	f, log := newFakeAudit(t)
	op := platformv1alpha1.OperatorUsername
	f.append(op, "patch", "networkpolicies", "t-a", "before-the-mark", 200)
	m, err := log.mark()
	if err != nil {
		t.Fatal(err)
	}
	f.append(op, "patch", "networkpolicies", "t-a", "deny-all", 200)
	f.append(op, "patch", "tenants", "", "t", 409)
	f.append("system:admin", "create", "tenants", "", "t", 201)
	got, err := log.since(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != 2 || got.Conflicts != 1 || got.String() != "patch networkpolicies=1 patch tenants=1" {
		t.Fatalf("counted %d writes (%s), %d conflicts; want 2 (patch networkpolicies=1 patch tenants=1), 1 conflict (the canary is not counted)",
			got.Total, got, got.Conflicts)
	}
}

// A true zero (B2's target) is reported as zero: the canary proves the log
// covered the window.
func TestAuditLogReportsAProvenZero(t *testing.T) {
	_, log := newFakeAudit(t)
	m, err := log.mark()
	if err != nil {
		t.Fatal(err)
	}
	got, err := log.since(context.Background(), m)
	if err != nil || got.Total != 0 {
		t.Fatalf("since = %d writes, %v; want 0 writes and no error", got.Total, err)
	}
}

// What made "0 writes" appear at 2,000 tenants: the API server rotated the
// log, so the remembered offset pointed past the end of a new file.
func TestAuditLogRefusesToCountAcrossARotation(t *testing.T) {
	f, log := newFakeAudit(t)
	for i := range 50 {
		f.append(platformv1alpha1.OperatorUsername, "patch", "limitranges", "t-a", fmt.Sprint(i), 200)
	}
	m, err := log.mark()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.path, f.path+".1"); err != nil {
		t.Fatal(err)
	}
	f.append(platformv1alpha1.OperatorUsername, "patch", "limitranges", "t-a", "after", 200)
	_, err = log.since(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "was rotated or cut since the mark") {
		t.Fatalf("since after a rotation = %v; want the rotation reported", err)
	}
}

// A log that stopped recording (a wrong path, a policy that drops the
// operator's writes, a full disk) must not read as zero writes.
func TestAuditLogRefusesACountWithoutTheCanary(t *testing.T) {
	f, log := newFakeAudit(t)
	f.append("system:admin", "create", "tenants", "", "t", 201)
	log.patience = 300 * time.Millisecond
	log.canary = func(context.Context, string) error { return nil } // accepted, never logged
	m, err := log.mark()
	if err != nil {
		t.Fatal(err)
	}
	_, err = log.since(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "does not show the canary write") {
		t.Fatalf("since without the canary in the log = %v; want the missing canary reported", err)
	}
}
