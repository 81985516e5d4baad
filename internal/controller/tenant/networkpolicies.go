package tenant

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// blockedEgress are destinations a tenant never reaches through a broader
// allowEgressCIDRs entry: private ranges, link-local (cloud metadata at
// 169.254.169.254), CGNAT, IPv6 unique-local and link-local. Only an entry
// inside one of them (or equal to it) opens it.
var blockedEgress = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// nodeLocalDNS is the conventional NodeLocal DNSCache address.
const nodeLocalDNS = "169.254.20.10/32"

// egressExceptions are the blocked ranges strictly inside cidr: a broad entry
// such as 0.0.0.0/0 does not open them, a narrow one inside them does.
func egressExceptions(cidr string) ([]string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("allowEgressCIDRs entry %q: %w", cidr, err)
	}
	var except []string
	for _, b := range blockedEgress {
		if b.Addr().Is4() == p.Addr().Is4() && p.Bits() < b.Bits() && p.Contains(b.Addr()) {
			except = append(except, b.String())
		}
	}
	return except, nil
}

func netpol(tenant, namespace, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: naming.TenantLabels(tenant)},
		Spec:       spec,
	}
}

func sameTenantPeer(tenant string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{platformv1alpha1.TenantLabel: tenant},
	}}
}

func peers(in []platformv1alpha1.NetworkPeer) []networkingv1.NetworkPolicyPeer {
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(in))
	for _, p := range in {
		out = append(out, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: p.NamespaceSelector.DeepCopy(),
			PodSelector:       p.PodSelector.DeepCopy(),
		})
	}
	return out
}

func dnsPorts() []networkingv1.NetworkPolicyPort {
	port := intstr.FromInt32(53)
	return []networkingv1.NetworkPolicyPort{
		{Protocol: ptr.To(corev1.ProtocolUDP), Port: &port},
		{Protocol: ptr.To(corev1.ProtocolTCP), Port: &port},
	}
}

var (
	ingressOnly = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egressOnly  = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
)

// desiredNetworkPolicies renders DefaultDeny: deny everything, then allow the
// tenant's own namespaces, DNS, and what the Tenant lists. Every field the API
// server would default is set, so the cached object compares exactly.
func desiredNetworkPolicies(t *platformv1alpha1.Tenant, ns string) ([]*networkingv1.NetworkPolicy, error) {
	all := metav1.LabelSelector{}
	net := t.Spec.Network
	nps := []*networkingv1.NetworkPolicy{
		netpol(t.Name, ns, naming.NetworkPolicyDefaultDeny, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		}),
		netpol(t.Name, ns, naming.NetworkPolicyAllowSameTenant, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{sameTenantPeer(t.Name)}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{sameTenantPeer(t.Name)}}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		}),
		netpol(t.Name, ns, naming.NetworkPolicyAllowDNS, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{
					{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					},
					{IPBlock: &networkingv1.IPBlock{CIDR: nodeLocalDNS}},
				},
				Ports: dnsPorts(),
			}},
			PolicyTypes: egressOnly,
		}),
	}
	if len(net.AllowIngressFrom) > 0 {
		nps = append(nps, netpol(t.Name, ns, naming.NetworkPolicyAllowIngress, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peers(net.AllowIngressFrom)}},
			PolicyTypes: ingressOnly,
		}))
	}
	if len(net.AllowMonitoringFrom) > 0 {
		nps = append(nps, netpol(t.Name, ns, naming.NetworkPolicyAllowMonitoring, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peers(net.AllowMonitoringFrom)}},
			PolicyTypes: ingressOnly,
		}))
	}
	if len(net.AllowEgressCIDRs) > 0 {
		to := make([]networkingv1.NetworkPolicyPeer, 0, len(net.AllowEgressCIDRs))
		for _, cidr := range net.AllowEgressCIDRs {
			except, err := egressExceptions(cidr)
			if err != nil {
				return nil, err
			}
			to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}})
		}
		nps = append(nps, netpol(t.Name, ns, naming.NetworkPolicyAllowEgress, networkingv1.NetworkPolicySpec{
			PodSelector: all,
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: to}},
			PolicyTypes: egressOnly,
		}))
	}
	return nps, nil
}

// reconcileNetworkPolicies applies the tenant's isolation in every namespace
// and removes policies it no longer declares (isolation None, a peer list
// emptied).
func (r *Reconciler) reconcileNetworkPolicies(ctx context.Context, s *scope) error {
	t := s.tenant
	for _, ns := range s.active() {
		if err := r.reconcileNamespaceNetworkPolicies(ctx, s, ns); err != nil {
			s.fail(ns, err)
		}
	}
	if t.Spec.Network.Isolation == platformv1alpha1.NetworkNone {
		conditions.True(t, platformv1alpha1.TenantConditionNetworkIsolationReady, "IsolationDisabled",
			"network isolation is None: no NetworkPolicies are created")
	} else {
		conditions.True(t, platformv1alpha1.TenantConditionNetworkIsolationReady, platformv1alpha1.ReasonReconciled,
			fmt.Sprintf("default-deny NetworkPolicies applied in %d namespaces", len(s.owned)))
	}
	return nil
}

func (r *Reconciler) reconcileNamespaceNetworkPolicies(ctx context.Context, s *scope, ns string) error {
	t := s.tenant
	var desired []*networkingv1.NetworkPolicy
	if t.Spec.Network.Isolation != platformv1alpha1.NetworkNone {
		var err error
		if desired, err = desiredNetworkPolicies(t, ns); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	for _, np := range desired {
		keep[np.Name] = true
		if err := r.ensure(ctx, s, np); err != nil {
			return err
		}
	}
	return r.deleteStaleNetworkPolicies(ctx, ns, t.Name, keep)
}
