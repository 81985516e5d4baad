package manager

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// reservedLabelPrefixes are label key prefixes the cost team label may not
// use: the operator's own labels and those the admission policies protect or
// other tools own (the same list the Tenant's CEL refuses for namespace
// labels), so that the option can never overwrite a guardrail label.
var reservedLabelPrefixes = []string{
	"platform.tenantai.io/", "pod-security.kubernetes.io/", "kubernetes.io/", "k8s.io/",
	"app.kubernetes.io/", "argocd.argoproj.io/",
}

// reservedLabelInfixes are reserved domains at any subdomain.
var reservedLabelInfixes = []string{".kubernetes.io/", ".k8s.io/", ".tenantai.io/"}

// validateCostTeamLabel checks the --cost-team-label key: empty (off) or a
// valid label key outside the reserved prefixes.
func validateCostTeamLabel(key string) error {
	if key == "" {
		return nil
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return fmt.Errorf("--cost-team-label %q is not a valid label key: %s", key, strings.Join(errs, "; "))
	}
	for _, p := range reservedLabelPrefixes {
		if strings.HasPrefix(key, p) {
			return fmt.Errorf("--cost-team-label %q uses the reserved prefix %s: choose a key such as \"team\"", key, p)
		}
	}
	for _, d := range reservedLabelInfixes {
		if strings.Contains(key, d) {
			return fmt.Errorf("--cost-team-label %q uses the reserved domain *%s: choose a key such as \"team\"", key, d)
		}
	}
	return nil
}
