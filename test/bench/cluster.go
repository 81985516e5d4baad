package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// auditPolicy records every mutating request of the operator's identity
// (the baseline client uses the same identity) and nothing else. Leases and
// Events are left out, as DESIGN §5 counts them apart.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: None
  resources:
  - group: coordination.k8s.io
    resources: ["leases"]
  - group: ""
    resources: ["events"]
  - group: events.k8s.io
    resources: ["events"]
- level: Metadata
  users: ["` + platformv1alpha1.OperatorUsername + `"]
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// controllerManagerFlags tune kube-controller-manager as for a large
// cluster. Its default client limit (20 requests/s per controller) caps the
// quota controller at 20 ResourceQuota status updates a second, and a
// TenantQuota is Ready only once its quotas are enforced: with the default,
// B1 measures kube-controller-manager, not tenantai (docs/benchmarks.md).
var controllerManagerFlags = []string{"--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-resource-quota-syncs=8"}

// cluster is one fresh envtest API server (with etcd and kube-controller-
// manager, so quota status and service accounts behave as in a cluster) that
// writes an audit log of the operator's writes.
type cluster struct {
	*testenv.Env
	dir   string
	keep  bool
	audit *auditLog
}

// clusters are the running API servers, stopped on an interrupt too.
var clusters sync.Map

// stopOnInterrupt stops every running API server (etcd and kube-apiserver
// would outlive the benchmark otherwise) when the benchmark is interrupted.
func stopOnInterrupt() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		logf("interrupted: stopping the API servers")
		clusters.Range(func(k, _ any) bool { k.(*cluster).stop(); return true })
		os.Exit(130)
	}()
}

func startCluster(keep bool) (*cluster, error) {
	dir, err := os.MkdirTemp("", "tenantai-bench-")
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "audit.log")
	env, err := testenv.Start(testenv.Options{
		ControllerManager:      true,
		ControllerManagerFlags: controllerManagerFlags,
		APIServerFlags: map[string]string{
			"audit-policy-file": policy,
			"audit-log-path":    logPath,
			"audit-log-format":  "json",
			// envtest's default /24 runs out after 256 Services; B3 has one
			// per ModelDeployment.
			"service-cluster-ip-range": "10.0.0.0/16",
		},
	})
	if err != nil {
		return nil, err
	}
	if keep {
		// For looking inside while it runs: kubectl, the API server's pprof.
		if err := testenv.WriteKubeconfig(filepath.Join(dir, "admin.kubeconfig"), env.AdminConfig); err != nil {
			return nil, err
		}
		logf("API server logs and an admin kubeconfig in %s", dir)
	}
	c := &cluster{Env: env, dir: dir, keep: keep, audit: &auditLog{path: logPath}}
	clusters.Store(c, true)
	return c, nil
}

func (c *cluster) stop() {
	if _, running := clusters.LoadAndDelete(c); !running {
		return
	}
	if err := c.Stop(); err != nil {
		logf("stopping the API server: %v", err)
	}
	if c.keep {
		logf("kept the audit log and operator logs in %s", c.dir)
		return
	}
	_ = os.RemoveAll(c.dir)
}

// auditLog reads the API server's audit log from a remembered offset.
type auditLog struct{ path string }

type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// mark is the log's current end.
func (a *auditLog) mark() int64 {
	st, err := os.Stat(a.path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// writes are the operator identity's mutating requests in the log since a
// mark: in total, by verb and resource, and those answered 409 Conflict.
type writes struct {
	Total     int
	Conflicts int
	Failed    int
	By        map[string]int
}

func (w writes) String() string {
	keys := make([]string, 0, len(w.By))
	for k := range w.By {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, w.By[k]))
	}
	return strings.Join(parts, " ")
}

func (a *auditLog) since(offset int64) (writes, error) {
	out := writes{By: map[string]int{}}
	f, err := os.Open(a.path)
	if err != nil {
		return out, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, 0); err != nil {
		return out, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("audit log line: %w", err)
		}
		if ev.User.Username != platformv1alpha1.OperatorUsername || ev.ObjectRef == nil {
			continue
		}
		out.Total++
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		out.By[ev.Verb+" "+res]++
		if ev.ResponseStatus != nil {
			switch {
			case ev.ResponseStatus.Code == 409:
				out.Conflicts++
			case ev.ResponseStatus.Code >= 400:
				out.Failed++
			}
		}
	}
	return out, sc.Err()
}
