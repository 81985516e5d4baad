// Package v1alpha1 holds the tenantai API: Tenant, TenantQuota and
// ModelDeployment in the platform.tenantai.io group.
//
// +kubebuilder:object:generate=true
// +groupName=platform.tenantai.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "platform.tenantai.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme. The
	// package depends only on apimachinery, so that it is cheap to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	knownTypes []runtime.Object
)

// register records kinds for addKnownTypes; each *_types.go calls it from init.
func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
