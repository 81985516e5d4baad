package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
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
  verbs: ["create", "update", "patch", "delete", "deletecollection", "get", "list"]
- level: None
`

// auditLogFlags keep the audit log in one file for the whole run. Left at
// its default (0), --audit-log-maxsize means 100 MB to the log rotator: at
// 2,000 tenants the log rotated during B1, the offset remembered before it
// pointed past the end of the new file and the count read 0 writes.
var auditLogFlags = map[string]string{
	"audit-log-maxsize":   "1048576", // MB: never reached by a benchmark
	"audit-log-maxbackup": "0",
}

// canaryNamespace holds the objects the benchmark writes to prove that the
// audit log recorded a window (see since).
const canaryNamespace = "default"

// auditLog reads the API server's audit log between two points of a run.
type auditLog struct {
	path string
	// canary makes one mutating request, named name, with the operator's
	// identity: the audit policy records it like any write of the operator.
	canary   func(ctx context.Context, name string) error
	canaries int
	// patience is how long the canary may take to show in the log (30 s
	// when zero).
	patience time.Duration
}

// newCanary creates a ConfigMap with the operator's identity.
func newCanary(c client.Client) func(context.Context, string) error {
	return func(ctx context.Context, name string) error {
		return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: canaryNamespace}})
	}
}

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

// auditMark is a point in the log: the file and the offset of its end.
type auditMark struct {
	inode  uint64
	offset int64
}

// mark is the log's current end. The API server creates the log at its
// first audited request; a log that does not exist yet is marked at 0.
func (a *auditLog) mark() (auditMark, error) {
	st, err := os.Stat(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return auditMark{}, nil
	}
	if err != nil {
		return auditMark{}, fmt.Errorf("reading the audit log: %w", err)
	}
	return auditMark{inode: inode(st), offset: st.Size()}, nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// writes are the operator identity's mutating requests in the log since a
// mark: in total, by verb and resource, and those answered 409 Conflict.
type writes struct {
	Total     int
	Conflicts int
	Failed    int
	By        map[string]int
	// Reads are the operator's gets and lists (not watches) by verb and
	// resource; they are not in Total.
	Reads map[string]int
}

func isRead(verb string) bool { return verb == "get" || verb == "list" }

func (w writes) String() string { return countsString(w.By) }

// ReadsString lists the reads like String lists the writes.
func (w writes) ReadsString() string { return countsString(w.Reads) }

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// since counts the writes from the mark to now. A count it cannot stand
// behind is an error, never a number: it first makes a canary write and
// requires the log to show it after the mark, in the same file. Without
// that, a log that stopped, rotated or was cut would read as "0 writes",
// which is exactly the figure B2 hopes for. Requests in namespaces whose
// names start with one of skipNamespaces are left out (the warm-up
// tenant's, repaired by B4 while B1 runs).
func (a *auditLog) since(ctx context.Context, m auditMark, skipNamespaces ...string) (writes, error) {
	a.canaries++
	canary := fmt.Sprintf("bench-audit-canary-%d-%d", time.Now().UnixNano(), a.canaries)
	if err := a.canary(ctx, canary); err != nil {
		return writes{}, fmt.Errorf("the audit-log canary write failed, so the count cannot be checked: %w", err)
	}
	// The log backend writes an event once the request has completed, which
	// may be just after the client has its answer.
	patience := cmp.Or(a.patience, 30*time.Second)
	deadline := time.Now().Add(patience)
	for {
		w, seen, err := a.read(m, canary, skipNamespaces)
		if err != nil || seen {
			return w, err
		}
		if time.Now().After(deadline) {
			return writes{}, fmt.Errorf("the audit log %s does not show the canary write %s/%s %s after it was made: the count is not available (%d writes read up to there)",
				a.path, canaryNamespace, canary, patience, w.Total)
		}
		select {
		case <-ctx.Done():
			return writes{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// read counts the operator's writes from the mark, leaving out the canary,
// and reports whether the canary was among them.
func (a *auditLog) read(m auditMark, canary string, skipNamespaces []string) (writes, bool, error) {
	out := writes{By: map[string]int{}, Reads: map[string]int{}}
	f, err := os.Open(a.path)
	if err != nil {
		return out, false, fmt.Errorf("reading the audit log: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return out, false, err
	}
	if m.inode != 0 && inode(st) != m.inode || st.Size() < m.offset {
		return out, false, fmt.Errorf("the audit log %s was rotated or cut since the mark (offset %d, now %d bytes): the count is not available",
			a.path, m.offset, st.Size())
	}
	if _, err := f.Seek(m.offset, io.SeekStart); err != nil {
		return out, false, err
	}
	seen := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			if sc.Scan() {
				return out, false, fmt.Errorf("audit log line: %w", err)
			}
			// The last line may be half written; the next read has it whole.
			return out, false, nil
		}
		if ev.User.Username != platformv1alpha1.OperatorUsername || ev.ObjectRef == nil {
			continue
		}
		if ev.ObjectRef.Namespace == canaryNamespace && ev.ObjectRef.Name == canary {
			seen = true
			continue
		}
		if slices.ContainsFunc(skipNamespaces, func(prefix string) bool { return strings.HasPrefix(ev.ObjectRef.Namespace, prefix) }) {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		if isRead(ev.Verb) {
			out.Reads[ev.Verb+" "+res]++
			continue
		}
		out.Total++
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
	return out, seen, sc.Err()
}
