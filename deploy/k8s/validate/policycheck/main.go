// Command policycheck asserts what deploy/k8s's NetworkPolicies must
// guarantee, on rendered manifests (kustomize build output), offline.
// kubeconform only checks that each object is well-formed; this checks what
// the policies together allow, with the API's semantics: a pod selected by
// no policy of a direction is open in that direction, policies add up, an
// empty peer list means everyone, an empty port list every port, and an
// ipBlock reaches its CIDR minus its excepts.
//
// For every workload (Deployment, StatefulSet, DaemonSet) it requires:
//
//   - a default deny: a policy selecting every pod, for Ingress and Egress,
//     with no rules;
//   - inbound: the ingress's webhook port (8080) from ipBlocks only (the
//     load balancer), never from everywhere; admin/metrics ports (9090)
//     from named namespaces only (monitoring); the codec server's port
//     (8089) from one named namespace (the Temporal UI's) and nothing else;
//     no other port, and no rule without ports;
//   - outbound: no rule without ports; pods only in named namespaces and
//     only for DNS (53) and Temporal (7233); ipBlocks never reach the
//     special-purpose ranges (private, carrier-grade NAT, loopback,
//     link-local and so every cloud metadata address, multicast, reserved,
//     unique-local, IPv4-embedding IPv6) unless they except them, with
//     three narrow exceptions: a private range for DNS and Temporal ports
//     only, a single link-local address for DNS only, and the GKE metadata
//     server's Workload Identity endpoints (169.254.169.254:80,
//     169.254.169.252:988); the codec server reaches nothing;
//   - and what must work: the load balancer reaches the webhook; the
//     ingress and the workers reach DNS, Temporal and Google APIs
//     (199.36.153.8, private.googleapis.com, on 443); the workers reach the
//     public internet on 80 and 443 (the origins, the callback URL) and the
//     GKE metadata server (Workload Identity, for GCS); every pod a
//     PodMonitor or PodMonitoring scrapes admits the scraped port from a
//     named namespace.
//
// Usage: policycheck rendered.yaml. It prints what each workload may do and
// exits 1, naming the policy, the workload and the address, on the first
// violations.
package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: policycheck rendered.yaml")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "policycheck:", err)
		os.Exit(2)
	}
	m, err := parse(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "policycheck:", err)
		os.Exit(2)
	}
	report, problems := check(m)
	fmt.Print(report)
	for _, p := range problems {
		fmt.Println("policycheck: " + p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// Ports by convention (README, deploy/k8s): the ingress's webhook, every
// process's admin listener (/metrics, /healthz, /readyz), the codec server.
const (
	webhookPort = 8080
	adminPort   = 9090
	codecPort   = 8089
	dnsPort     = 53
	temporal    = 7233
)

// Roles are the app.kubernetes.io/component values of deploy/k8s.
const (
	roleIngress = "ingress"
	roleCodec   = "codec-server"
)

var workerRoles = []string{"worker", "video-worker"}

// A range a policy must not open to the pods, except as allowed below.
type special struct {
	prefix netip.Prefix
	what   string
	kind   rangeKind
}

type rangeKind int

const (
	never     rangeKind = iota // no exception
	private                    // DNS and Temporal ports may reach it (a resolver, a Temporal outside the cluster)
	linkLocal                  // a single address, for DNS only; the GKE metadata server's Workload Identity endpoints
)

var specialRanges = func() []special {
	var out []special
	for _, r := range []struct {
		cidr, what string
		kind       rangeKind
	}{
		{"0.0.0.0/8", "this network", never},
		{"10.0.0.0/8", "private (RFC 1918)", private},
		{"100.64.0.0/10", "carrier-grade NAT (RFC 6598; Alibaba's metadata at 100.100.100.200)", private},
		{"127.0.0.0/8", "loopback", never},
		{"169.254.0.0/16", "link-local: cloud metadata, 169.254.169.254", linkLocal},
		{"172.16.0.0/12", "private (RFC 1918)", private},
		{"192.168.0.0/16", "private (RFC 1918)", private},
		{"224.0.0.0/4", "multicast", never},
		{"240.0.0.0/4", "reserved", never},
		{"::1/128", "loopback", never},
		{"::ffff:0:0/96", "IPv4-mapped IPv6", never},
		{"64:ff9b::/96", "NAT64 (embeds any IPv4 address)", never},
		{"fc00::/7", "unique-local: GCE's metadata at fd20:ce::254, EC2's at fd00:ec2::254 and fd00:ec2::23", private},
		{"fe80::/10", "link-local", linkLocal},
		{"ff00::/8", "multicast", never},
	} {
		out = append(out, special{netip.MustParsePrefix(r.cidr), r.what, r.kind})
	}
	return out
}()

// The GKE metadata server's Workload Identity endpoints: Dataplane V2
// answers at 169.254.169.254:80, Calico clusters at 169.254.169.252:988.
var workloadIdentity = []endpoint{
	{netip.MustParseAddr("169.254.169.254"), "TCP", 80},
	{netip.MustParseAddr("169.254.169.252"), "TCP", 988},
}

// Addresses that stand for "the public internet" and "Google APIs" in the
// must-work checks.
var (
	publicAddr = netip.MustParseAddr("8.8.8.8")
	googleAPIs = netip.MustParseAddr("199.36.153.8") // private.googleapis.com
)

type endpoint struct {
	addr  netip.Addr
	proto string
	port  int
}

// ---- The manifests ----

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

func (s *labelSelector) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, e := range s.MatchExpressions {
		parts = append(parts, fmt.Sprintf("%s %s %v", e.Key, e.Operator, e.Values))
	}
	return strings.Join(parts, ",")
}

func (s *labelSelector) empty() bool {
	return s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

func (s *labelSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case "In":
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// namespaceName is the one namespace a selector picks by its
// kubernetes.io/metadata.name label, or "" when it may pick any other.
func (s *labelSelector) namespaceName() string {
	const key = "kubernetes.io/metadata.name"
	name, ok := s.MatchLabels[key]
	for _, e := range s.MatchExpressions {
		if e.Key == key && e.Operator == "In" && len(e.Values) == 1 && (!ok || e.Values[0] == name) {
			name, ok = e.Values[0], true
		}
	}
	if !ok {
		return ""
	}
	return name
}

type ipBlock struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except"`
}

type peer struct {
	PodSelector       *labelSelector `json:"podSelector"`
	NamespaceSelector *labelSelector `json:"namespaceSelector"`
	IPBlock           *ipBlock       `json:"ipBlock"`
}

type policyPort struct {
	Protocol string          `json:"protocol"`
	Port     json.RawMessage `json:"port"`
	EndPort  int             `json:"endPort"`
}

type rule struct {
	From  []peer       `json:"from"`
	To    []peer       `json:"to"`
	Ports []policyPort `json:"ports"`
}

type networkPolicy struct {
	Name, Namespace string
	Spec            struct {
		PodSelector labelSelector `json:"podSelector"`
		PolicyTypes []string      `json:"policyTypes"`
		Ingress     []rule        `json:"ingress"`
		Egress      []rule        `json:"egress"`
	}
}

func (p *networkPolicy) has(direction string) bool {
	if len(p.Spec.PolicyTypes) == 0 { // the API's default
		return direction == "Ingress" || len(p.Spec.Egress) > 0
	}
	return slices.Contains(p.Spec.PolicyTypes, direction)
}

type workload struct {
	Kind, Name, Namespace string
	Labels                map[string]string
	Ports                 map[string]endpoint // container port name → port
}

func (w *workload) role() string { return w.Labels["app.kubernetes.io/component"] }
func (w *workload) String() string {
	return fmt.Sprintf("%s %s/%s", w.role(), w.Namespace, w.Name)
}

type monitor struct {
	Kind, Name, Namespace string
	Selector              labelSelector
	Ports                 []string
}

type manifests struct {
	policies  []*networkPolicy
	workloads []*workload
	monitors  []*monitor
	unplaced  []string // namespaced objects without a namespace
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

var clusterScoped = []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass", "IngressClass", "GatewayClass"}

func parse(b []byte) (*manifests, error) {
	m := &manifests{}
	for i, doc := range separator.Split(string(b), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec json.RawMessage `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		name, ns := obj.Metadata.Name, obj.Metadata.Namespace
		if ns == "" && !slices.Contains(clusterScoped, obj.Kind) {
			m.unplaced = append(m.unplaced, obj.Kind+" "+name)
		}
		switch obj.Kind {
		case "NetworkPolicy":
			p := &networkPolicy{Name: name, Namespace: ns}
			if err := json.Unmarshal(obj.Spec, &p.Spec); err != nil {
				return nil, fmt.Errorf("NetworkPolicy %s: %w", name, err)
			}
			m.policies = append(m.policies, p)
		case "Deployment", "StatefulSet", "DaemonSet":
			var spec struct {
				Template struct {
					Metadata struct {
						Labels map[string]string `json:"labels"`
					} `json:"metadata"`
					Spec struct {
						Containers []struct {
							Ports []struct {
								Name          string `json:"name"`
								ContainerPort int    `json:"containerPort"`
								Protocol      string `json:"protocol"`
							} `json:"ports"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			}
			if err := json.Unmarshal(obj.Spec, &spec); err != nil {
				return nil, fmt.Errorf("%s %s: %w", obj.Kind, name, err)
			}
			w := &workload{Kind: obj.Kind, Name: name, Namespace: ns, Labels: spec.Template.Metadata.Labels, Ports: map[string]endpoint{}}
			for _, c := range spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					w.Ports[p.Name] = endpoint{proto: cmpOr(p.Protocol, "TCP"), port: p.ContainerPort}
				}
			}
			m.workloads = append(m.workloads, w)
		case "PodMonitor", "PodMonitoring":
			var spec struct {
				Selector            labelSelector                    `json:"selector"`
				PodMetricsEndpoints []struct{ Port json.RawMessage } `json:"podMetricsEndpoints"`
				Endpoints           []struct{ Port json.RawMessage } `json:"endpoints"`
			}
			if err := json.Unmarshal(obj.Spec, &spec); err != nil {
				return nil, fmt.Errorf("%s %s: %w", obj.Kind, name, err)
			}
			mon := &monitor{Kind: obj.Kind, Name: name, Namespace: ns, Selector: spec.Selector}
			for _, e := range append(spec.PodMetricsEndpoints, spec.Endpoints...) {
				mon.Ports = append(mon.Ports, strings.Trim(string(e.Port), `"`))
			}
			m.monitors = append(m.monitors, mon)
		}
	}
	return m, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ---- What a workload's policies allow ----

// A grant is one rule as it applies to one workload: its ports resolved.
type grant struct {
	policy string
	peers  []peer // nil: everyone
	ports  []portRange
}

type portRange struct {
	proto    string
	from, to int // to == from for a single port
}

func (r portRange) contains(proto string, port int) bool {
	return r.proto == proto && r.from <= port && port <= r.to
}

func (r portRange) String() string {
	if r.from == r.to {
		return fmt.Sprintf("%s %d", r.proto, r.from)
	}
	return fmt.Sprintf("%s %d-%d", r.proto, r.from, r.to)
}

// resolve turns a rule's ports into ranges; named ports are looked up in
// the workload's containers (ingress) — a name no container declares opens
// nothing. nil with ok means every port.
func resolve(ports []policyPort, w *workload) (out []portRange, err error) {
	if len(ports) == 0 {
		return nil, nil
	}
	for _, p := range ports {
		proto := cmpOr(p.Protocol, "TCP")
		raw := strings.TrimSpace(string(p.Port))
		if raw == "" || raw == "null" {
			out = append(out, portRange{proto, 1, 65535})
			continue
		}
		if n, err := strconv.Atoi(raw); err == nil {
			end := n
			if p.EndPort > 0 {
				end = p.EndPort
			}
			out = append(out, portRange{proto, n, end})
			continue
		}
		name := strings.Trim(raw, `"`)
		if w == nil {
			return nil, fmt.Errorf("named port %q in an egress rule: name the port by number, what it reaches is not ours", name)
		}
		if e, ok := w.Ports[name]; ok && e.proto == proto {
			out = append(out, portRange{proto, e.port, e.port})
		}
	}
	return out, nil
}

func grants(m *manifests, w *workload, direction string) (isolated bool, out []grant, problems []string) {
	for _, p := range m.policies {
		if p.Namespace != w.Namespace || !p.Spec.PodSelector.matches(w.Labels) || !p.has(direction) {
			continue
		}
		isolated = true
		rules := p.Spec.Ingress
		if direction == "Egress" {
			rules = p.Spec.Egress
		}
		for i, r := range rules {
			peers := r.From
			target := w
			if direction == "Egress" {
				peers, target = r.To, nil
			}
			ports, err := resolve(r.Ports, target)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s, %s rule %d: %v", w, p.Name, strings.ToLower(direction), i+1, err))
				continue
			}
			if len(r.Ports) == 0 {
				ports = []portRange{{"TCP", 1, 65535}, {"UDP", 1, 65535}, {"SCTP", 1, 65535}}
				problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s, %s rule %d lists no ports, so it opens every port", w, p.Name, strings.ToLower(direction), i+1))
			}
			if len(peers) == 0 {
				problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s, %s rule %d lists no peers, so it admits everyone (every pod and every address)", w, p.Name, strings.ToLower(direction), i+1))
				peers = nil
			}
			out = append(out, grant{policy: p.Name, peers: peers, ports: ports})
		}
	}
	return isolated, out, problems
}

// ---- The checks ----

func check(m *manifests) (string, []string) {
	var report strings.Builder
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, u := range m.unplaced {
		fail("%s has no namespace: a component's objects need the overlay's namespace", u)
	}
	if len(m.workloads) == 0 {
		fail("no workloads (Deployment, StatefulSet, DaemonSet) to check")
	}

	namespaces := map[string]bool{}
	for _, w := range m.workloads {
		namespaces[w.Namespace] = true
	}
	for ns := range namespaces {
		deny := ""
		for _, p := range m.policies {
			if p.Namespace == ns && p.Spec.PodSelector.empty() && p.has("Ingress") && p.has("Egress") && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 {
				deny = p.Name
			}
		}
		if deny == "" {
			fail("namespace %s has no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules): a pod no other policy selects would be open both ways", ns)
		} else {
			fmt.Fprintf(&report, "namespace %s: default deny (NetworkPolicy %s)\n", ns, deny)
		}
	}

	for _, w := range m.workloads {
		isolatedIn, in, p1 := grants(m, w, "Ingress")
		isolatedOut, out, p2 := grants(m, w, "Egress")
		problems = append(problems, p1...)
		problems = append(problems, p2...)
		if !isolatedIn || !isolatedOut {
			fail("%s: no NetworkPolicy isolates it (ingress %t, egress %t): it is open", w, isolatedIn, isolatedOut)
			continue
		}
		fmt.Fprintf(&report, "%s\n", w)
		for _, g := range in {
			fmt.Fprintf(&report, "  in  %-24s from %s (%s)\n", joinPorts(g.ports), describePeers(g.peers), g.policy)
		}
		for _, g := range out {
			fmt.Fprintf(&report, "  out %-24s to %s (%s)\n", joinPorts(g.ports), describePeers(g.peers), g.policy)
		}
		problems = append(problems, checkIngress(w, in)...)
		problems = append(problems, checkEgress(w, out)...)
	}
	problems = append(problems, checkMonitors(m)...)
	return report.String(), problems
}

func checkIngress(w *workload, in []grant) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	allowedPorts := map[string][]int{
		roleIngress: {webhookPort, adminPort},
		roleCodec:   {codecPort},
	}
	for _, r := range workerRoles {
		allowedPorts[r] = []int{adminPort}
	}
	codecFrom := map[string]bool{}
	webhookOpen := false
	for _, g := range in {
		for _, pr := range g.ports {
			if pr.from != pr.to || pr.proto != "TCP" || !slices.Contains(allowedPorts[w.role()], pr.from) {
				fail("%s: NetworkPolicy %s opens %s; only TCP %v may be open on it", w, g.policy, pr, allowedPorts[w.role()])
				continue
			}
			for _, p := range g.peers {
				switch {
				case pr.from == webhookPort:
					if p.IPBlock == nil {
						fail("%s: NetworkPolicy %s opens the webhook port to %s; only the load balancer's addresses (ipBlocks) may reach it", w, g.policy, describePeer(p))
					} else if pre, err := netip.ParsePrefix(p.IPBlock.CIDR); err != nil || pre.Bits() == 0 {
						fail("%s: NetworkPolicy %s opens the webhook port from %s, the whole internet; list the load balancer's source ranges", w, g.policy, p.IPBlock.CIDR)
					} else {
						webhookOpen = true
					}
				default: // admin and codec ports: named namespaces only
					ns := ""
					if p.NamespaceSelector != nil {
						ns = p.NamespaceSelector.namespaceName()
					}
					if ns == "" || ns == w.Namespace {
						fail("%s: NetworkPolicy %s opens TCP %d to %s; only a named other namespace (kubernetes.io/metadata.name) may reach it", w, g.policy, pr.from, describePeer(p))
					} else if pr.from == codecPort {
						codecFrom[ns] = true
					}
				}
			}
		}
	}
	switch w.role() {
	case roleIngress:
		if !webhookOpen {
			fail("%s: no policy lets the load balancer reach the webhook port %d", w, webhookPort)
		}
	case roleCodec:
		if len(codecFrom) != 1 {
			fail("%s: the codec server must be reachable from exactly one namespace (the Temporal UI's); it is from %v", w, slices.Sorted(maps.Keys(codecFrom)))
		}
	}
	return problems
}

func checkEgress(w *workload, out []grant) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if w.role() == roleCodec && len(out) > 0 {
		fail("%s: the codec server needs no egress, but NetworkPolicy %s grants some", w, out[0].policy)
	}
	for _, g := range out {
		for _, p := range g.peers {
			if p.IPBlock == nil {
				ns := ""
				if p.NamespaceSelector != nil {
					ns = p.NamespaceSelector.namespaceName()
				}
				if ns == "" || ns == w.Namespace {
					fail("%s: NetworkPolicy %s lets it reach %s; pods only in a named other namespace (kubernetes.io/metadata.name)", w, g.policy, describePeer(p))
				}
				for _, pr := range g.ports {
					if !onlyDNSOrTemporal(pr) {
						fail("%s: NetworkPolicy %s lets it reach pods in namespace %q on %s; only DNS (53) and Temporal (7233)", w, g.policy, ns, pr)
					}
				}
				continue
			}
			problems = append(problems, checkIPBlock(w, g, *p.IPBlock)...)
		}
		if g.peers == nil {
			fail("%s: NetworkPolicy %s lets it reach everything on %s", w, g.policy, joinPorts(g.ports))
		}
	}

	if w.role() != roleIngress && !slices.Contains(workerRoles, w.role()) {
		return problems
	}
	must := func(what string, ok bool) {
		if !ok {
			fail("%s: cannot reach %s", w, what)
		}
	}
	must("DNS (UDP 53)", reachesPort(out, "UDP", dnsPort))
	must("Temporal (TCP 7233)", reachesPort(out, "TCP", temporal))
	must("Google APIs (199.36.153.8, TCP 443)", reaches(out, endpoint{googleAPIs, "TCP", 443}))
	if slices.Contains(workerRoles, w.role()) {
		must("the public internet on TCP 80 (origins, callbacks; probed with 8.8.8.8)", reaches(out, endpoint{publicAddr, "TCP", 80}))
		must("the public internet on TCP 443 (origins, callbacks; probed with 8.8.8.8)", reaches(out, endpoint{publicAddr, "TCP", 443}))
		must("the GKE metadata server for Workload Identity (169.254.169.254:80 or 169.254.169.252:988)",
			reaches(out, workloadIdentity[0]) || reaches(out, workloadIdentity[1]))
	}
	return problems
}

func onlyDNSOrTemporal(pr portRange) bool {
	return pr.from == pr.to && (pr.from == dnsPort || pr.from == temporal && pr.proto == "TCP")
}

// checkIPBlock reports every special-purpose range the block reaches on
// its rule's ports, beyond the exceptions.
func checkIPBlock(w *workload, g grant, b ipBlock) []string {
	var problems []string
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return []string{fmt.Sprintf("%s: NetworkPolicy %s: ipBlock %q: %v", w, g.policy, b.CIDR, err)}
	}
	var excepts []netip.Prefix
	for _, e := range b.Except {
		ep, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s: except %q: %v", w, g.policy, e, err))
		case !cidr.Contains(ep.Addr()) || ep.Bits() <= cidr.Bits():
			problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s: except %s is not strictly inside %s (the API server refuses it)", w, g.policy, e, b.CIDR))
		default:
			excepts = append(excepts, ep)
		}
	}
	for _, s := range specialRanges {
		if !overlaps(cidr, s.prefix) {
			continue
		}
		reached := s.prefix // the part of the special range the block covers
		if cidr.Bits() > s.prefix.Bits() {
			reached = cidr
		}
		if slices.ContainsFunc(excepts, func(e netip.Prefix) bool { return covers(e, reached) }) {
			continue
		}
		single := reached.IsSingleIP()
		for _, pr := range g.ports {
			switch {
			case s.kind == private && onlyDNSOrTemporal(pr):
			case s.kind == linkLocal && single && pr.from == dnsPort && pr.to == dnsPort:
			case s.kind == linkLocal && single && slices.ContainsFunc(workloadIdentity, func(e endpoint) bool {
				return e.addr == reached.Addr() && pr.from == e.port && pr.to == e.port && pr.proto == e.proto
			}):
			default:
				problems = append(problems, fmt.Sprintf("%s: NetworkPolicy %s lets it reach %s, %s, on %s (ipBlock %s does not except it)", w, g.policy, reached, s.what, pr, b.CIDR))
			}
		}
	}
	return problems
}

func overlaps(a, b netip.Prefix) bool {
	return a.Addr().Is4() == b.Addr().Is4() && (a.Contains(b.Addr()) || b.Contains(a.Addr()))
}

func covers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// reaches: some grant admits e (an ipBlock peer containing it, not excepted).
func reaches(out []grant, e endpoint) bool {
	for _, g := range out {
		if !slices.ContainsFunc(g.ports, func(pr portRange) bool { return pr.contains(e.proto, e.port) }) {
			continue
		}
		for _, p := range g.peers {
			if p.IPBlock == nil {
				continue
			}
			cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil || !cidr.Contains(e.addr) {
				continue
			}
			excepted := slices.ContainsFunc(p.IPBlock.Except, func(s string) bool {
				ep, err := netip.ParsePrefix(s)
				return err == nil && ep.Contains(e.addr)
			})
			if !excepted {
				return true
			}
		}
	}
	return false
}

func reachesPort(out []grant, proto string, port int) bool {
	for _, g := range out {
		if len(g.peers) > 0 && slices.ContainsFunc(g.ports, func(pr portRange) bool { return pr.contains(proto, port) }) {
			return true
		}
	}
	return false
}

// checkMonitors: every port a PodMonitor or PodMonitoring scrapes is
// admitted, on the pods it selects, from a named namespace.
func checkMonitors(m *manifests) []string {
	var problems []string
	for _, mon := range m.monitors {
		selected := 0
		for _, w := range m.workloads {
			if w.Namespace != mon.Namespace || !mon.Selector.matches(w.Labels) {
				continue
			}
			selected++
			_, in, _ := grants(m, w, "Ingress")
			for _, name := range mon.Ports {
				e, ok := w.Ports[name]
				if n, err := strconv.Atoi(name); err == nil {
					e, ok = endpoint{proto: "TCP", port: n}, true
				}
				if !ok {
					// The ingress gets its "metrics" port with issue 20
					// (INGRESS_ADMIN_ADDR); until then it is not scraped.
					continue
				}
				admitted := slices.ContainsFunc(in, func(g grant) bool {
					return slices.ContainsFunc(g.ports, func(pr portRange) bool { return pr.contains(e.proto, e.port) }) &&
						slices.ContainsFunc(g.peers, func(p peer) bool {
							return p.NamespaceSelector != nil && p.NamespaceSelector.namespaceName() != ""
						})
				})
				if !admitted {
					problems = append(problems, fmt.Sprintf("%s %s scrapes port %s (%d) of %s, but no NetworkPolicy admits the monitoring namespace there", mon.Kind, mon.Name, name, e.port, w))
				}
			}
		}
		if selected == 0 {
			problems = append(problems, fmt.Sprintf("%s %s selects no workload in namespace %q", mon.Kind, mon.Name, mon.Namespace))
		}
	}
	return problems
}

// ---- Descriptions ----

func joinPorts(prs []portRange) string {
	var s []string
	for _, pr := range prs {
		s = append(s, pr.String())
	}
	return strings.Join(s, ", ")
}

func describePeers(ps []peer) string {
	if ps == nil {
		return "everyone"
	}
	var s []string
	for _, p := range ps {
		s = append(s, describePeer(p))
	}
	return strings.Join(s, "; ")
}

func describePeer(p peer) string {
	switch {
	case p.IPBlock != nil && len(p.IPBlock.Except) > 0:
		return fmt.Sprintf("%s except %d special-purpose ranges", p.IPBlock.CIDR, len(p.IPBlock.Except))
	case p.IPBlock != nil:
		return p.IPBlock.CIDR
	case p.NamespaceSelector != nil && p.NamespaceSelector.empty():
		return "every namespace"
	case p.NamespaceSelector != nil:
		ns := p.NamespaceSelector.namespaceName()
		if ns == "" {
			ns = "selected by labels"
		}
		if p.PodSelector != nil && !p.PodSelector.empty() {
			return fmt.Sprintf("namespace %s, pods %s", ns, p.PodSelector)
		}
		return "namespace " + ns
	case p.PodSelector != nil:
		return "pods of its own namespace"
	default:
		return "nothing (an empty peer)"
	}
}
