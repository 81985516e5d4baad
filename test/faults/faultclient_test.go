package faults_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// faults is shared by every client a manager builds: it counts the writes
// that reached the API server and decides which write to fail or after which
// one to "crash".
type faults struct {
	mu       sync.Mutex
	attempts int      // write attempts so far
	writes   []string // writes that succeeded, in order
	// crashAfter > 0 cancels the manager right after that many successful
	// writes; every later write is refused, as if the process were gone.
	crashAfter int
	crashed    bool
	cancel     context.CancelFunc
	// inject, when set, is asked before each write attempt (1-based) and
	// fails it with the returned error.
	inject func(attempt int, desc string) error
	// emptyLists makes every List answer with no items.
	emptyLists bool
	// only, when set, refuses (without counting) every write whose
	// description does not contain it, so a crashing manager moves only the
	// tenant under test.
	only string
}

var errCrashed = fmt.Errorf("injected: manager crashed")

func (f *faults) newClient() client.NewClientFunc {
	return func(cfg *rest.Config, opts client.Options) (client.Client, error) {
		c, err := client.New(cfg, opts)
		if err != nil {
			return nil, err
		}
		return &faultClient{Client: c, f: f}, nil
	}
}

func (f *faults) before(desc string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return errCrashed
	}
	if f.only != "" && !strings.Contains(desc, f.only) {
		return errCrashed
	}
	f.attempts++
	if f.inject != nil {
		return f.inject(f.attempts, desc)
	}
	return nil
}

func (f *faults) after(desc string, err error) error {
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, desc)
	if f.crashAfter > 0 && len(f.writes) >= f.crashAfter && !f.crashed {
		f.crashed = true
		if f.cancel != nil {
			f.cancel()
		}
	}
	return nil
}

func (f *faults) setInject(fn func(attempt int, desc string) error) {
	f.mu.Lock()
	f.inject, f.attempts = fn, 0
	f.mu.Unlock()
}

func (f *faults) setEmptyLists(on bool) {
	f.mu.Lock()
	f.emptyLists = on
	f.mu.Unlock()
}

func (f *faults) reset() {
	f.mu.Lock()
	f.writes, f.attempts = nil, 0
	f.mu.Unlock()
}

// Writes returns the successful writes since the last reset.
func (f *faults) Writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func describe(verb string, obj any) string {
	if u, ok := obj.(interface {
		UnstructuredContent() map[string]any
		GetName() string
		GetNamespace() string
	}); ok {
		return fmt.Sprintf("%s %v %s/%s", verb, u.UnstructuredContent()["kind"], u.GetNamespace(), u.GetName())
	}
	if o, ok := obj.(client.Object); ok {
		return fmt.Sprintf("%s %T %s/%s", verb, obj, o.GetNamespace(), o.GetName())
	}
	if a, ok := obj.(interface {
		GetName() *string
		GetNamespace() *string
	}); ok && a.GetName() != nil {
		ns := ""
		if a.GetNamespace() != nil {
			ns = *a.GetNamespace()
		}
		return fmt.Sprintf("%s %T %s/%s", verb, obj, ns, *a.GetName())
	}
	return fmt.Sprintf("%s %T", verb, obj)
}

func setItemsEmpty(list client.ObjectList) error {
	return meta.SetList(list, nil)
}

type faultClient struct {
	client.Client
	f *faults
}

func (c *faultClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	c.f.mu.Lock()
	empty := c.f.emptyLists
	c.f.mu.Unlock()
	if empty {
		// What a cache freshly resynced against a restarted, still empty
		// API server (or a broken one) could answer.
		if err := setItemsEmpty(list); err != nil {
			return err
		}
	}
	return nil
}

func (c *faultClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	desc := describe("create", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.Create(ctx, obj, opts...))
}

func (c *faultClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	desc := describe("update", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.Update(ctx, obj, opts...))
}

func (c *faultClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	desc := describe("patch", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.Patch(ctx, obj, patch, opts...))
}

func (c *faultClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	desc := describe("apply", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.Apply(ctx, obj, opts...))
}

func (c *faultClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	desc := describe("delete", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.Delete(ctx, obj, opts...))
}

func (c *faultClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	desc := describe("deletecollection", obj)
	if err := c.f.before(desc); err != nil {
		return err
	}
	return c.f.after(desc, c.Client.DeleteAllOf(ctx, obj, opts...))
}

func (c *faultClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *faultClient) SubResource(name string) client.SubResourceClient {
	return &faultSubResource{SubResourceClient: c.Client.SubResource(name), f: c.f, name: name}
}

type faultSubResource struct {
	client.SubResourceClient
	f    *faults
	name string
}

func (s *faultSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	desc := describe("create/"+s.name, obj)
	if err := s.f.before(desc); err != nil {
		return err
	}
	return s.f.after(desc, s.SubResourceClient.Create(ctx, obj, sub, opts...))
}

func (s *faultSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	desc := describe("update/"+s.name, obj)
	if err := s.f.before(desc); err != nil {
		return err
	}
	return s.f.after(desc, s.SubResourceClient.Update(ctx, obj, opts...))
}

func (s *faultSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	desc := describe("patch/"+s.name, obj)
	if err := s.f.before(desc); err != nil {
		return err
	}
	return s.f.after(desc, s.SubResourceClient.Patch(ctx, obj, patch, opts...))
}

func (s *faultSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	desc := describe("apply/"+s.name, obj)
	if err := s.f.before(desc); err != nil {
		return err
	}
	return s.f.after(desc, s.SubResourceClient.Apply(ctx, obj, opts...))
}
