package manager

import "testing"

func TestValidateCostTeamLabel(t *testing.T) {
	cases := map[string]string{
		"":                          "",
		"team":                      "",
		"example.com/team":          "",
		"platform.tenantai.io/team": `--cost-team-label "platform.tenantai.io/team" uses the reserved prefix platform.tenantai.io/: choose a key such as "team"`,
		"app.kubernetes.io/part-of": `--cost-team-label "app.kubernetes.io/part-of" uses the reserved prefix app.kubernetes.io/: choose a key such as "team"`,
		"cost.k8s.io/team":          `--cost-team-label "cost.k8s.io/team" uses the reserved domain *.k8s.io/: choose a key such as "team"`,
		"my team":                   `--cost-team-label "my team" is not a valid label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
	}
	for key, want := range cases {
		got := ""
		if err := validateCostTeamLabel(key); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("validateCostTeamLabel(%q) = %q, want %q", key, got, want)
		}
	}
}
