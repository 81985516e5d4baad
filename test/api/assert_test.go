package api_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// expectInvalid asserts that err is the API server's Invalid error with a cause
// on field (rootField for a rule on the whole object) whose message contains msg: the
// reason, not just "an error".
func expectInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected the API server to refuse the object (%s: %s), it was accepted", field, msg)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("expected an Invalid error, got %v", err)
	}
	status, ok := err.(apierrors.APIStatus)
	if !ok || status.Status().Details == nil {
		t.Fatalf("Invalid error without details: %v", err)
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == field && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Fatalf("no cause on field %q containing %q in %+v:\n%v", field, msg, status.Status().Details.Causes, err)
}

// rootField is how the API server names the field of a rule on the whole
// object (one that reads metadata.name).
const rootField = "<nil>"
