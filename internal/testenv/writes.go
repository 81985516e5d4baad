package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WriteCounter counts the write requests the operator's manager client sends,
// by verb and object, so tests can prove that a reconcile of an unchanged
// object writes nothing (and that the counter does see the first pass).
type WriteCounter struct {
	mu     sync.Mutex
	writes []string
}

// NewClientFunc returns a manager NewClient that wraps the default client.
func (w *WriteCounter) NewClientFunc() client.NewClientFunc {
	return func(cfg *rest.Config, opts client.Options) (client.Client, error) {
		c, err := client.New(cfg, opts)
		if err != nil {
			return nil, err
		}
		return &countingClient{Client: c, w: w}, nil
	}
}

func (w *WriteCounter) record(verb string, obj runtime.Object) {
	desc := verb
	if o, ok := obj.(client.Object); ok {
		desc = fmt.Sprintf("%s %T %s/%s", verb, obj, o.GetNamespace(), o.GetName())
	} else if obj != nil {
		desc = fmt.Sprintf("%s %T", verb, obj)
	}
	w.mu.Lock()
	w.writes = append(w.writes, desc)
	w.mu.Unlock()
}

// recordApply records an apply with the kind, namespace and name of its body.
func (w *WriteCounter) recordApply(verb string, obj runtime.ApplyConfiguration) {
	var body struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if data, err := json.Marshal(obj); err == nil {
		_ = json.Unmarshal(data, &body)
	}
	desc := fmt.Sprintf("%s %s %s/%s", verb, body.Kind, body.Metadata.Namespace, body.Metadata.Name)
	w.mu.Lock()
	w.writes = append(w.writes, desc)
	w.mu.Unlock()
}

// About returns the writes counted since the last Reset whose description
// mentions s (an object name or a namespace prefix), so that a test counts
// only its own objects while other tests' objects settle.
func (w *WriteCounter) About(s string) []string {
	var out []string
	for _, desc := range w.Writes() {
		if strings.Contains(desc, s) {
			out = append(out, desc)
		}
	}
	return out
}

// Reset forgets the writes counted so far.
func (w *WriteCounter) Reset() {
	w.mu.Lock()
	w.writes = nil
	w.mu.Unlock()
}

// Writes returns the writes counted since the last Reset, sorted.
func (w *WriteCounter) Writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.writes...)
	sort.Strings(out)
	return out
}

type countingClient struct {
	client.Client
	w *WriteCounter
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.w.record("create", obj)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.w.record("update", obj)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.w.record("patch", obj)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.w.recordApply("apply", obj)
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.w.record("delete", obj)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *countingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.w.record("deletecollection", obj)
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *countingClient) SubResource(name string) client.SubResourceClient {
	return &countingSubResource{SubResourceClient: c.Client.SubResource(name), w: c.w, name: name}
}

type countingSubResource struct {
	client.SubResourceClient
	w    *WriteCounter
	name string
}

func (s *countingSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.w.record("create/"+s.name, obj)
	return s.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (s *countingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.w.record("update/"+s.name, obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *countingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.w.record("patch/"+s.name, obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (s *countingSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.w.recordApply("apply/"+s.name, obj)
	return s.SubResourceClient.Apply(ctx, obj, opts...)
}
