#!/usr/bin/env bash
# Validates deploy/k8s offline, strictly: renders the base (deploy/k8s), the
# base with each monitoring component (components/) and each overlay
# (overlays/), then
#   - checks every object with kubeconform against JSON schemas generated
#     from the upstream sources of the versions we support — the oldest and
#     the newest Kubernetes, the oldest KEDA, the Prometheus Operator's and
#     GKE Managed Prometheus's CRDs — with unknown fields refused;
#   - checks what the NetworkPolicies allow with validate/policycheck
#     (default deny; the webhook from the load balancer only; metrics from
#     monitoring; no egress to private or metadata addresses; the codec
#     server from the UI's namespace only; DNS, Temporal, Google APIs and
#     the internet where needed).
# Then checks the validators themselves: every fixture under
# validate/testdata (the real manifests with one defect) must be rejected,
# with the message its "# want:" line names.
#
# Everything comes from the Go module proxy: kustomize and kubeconform are
# tools of the module in validate/ (versions and hashes in its go.mod and
# go.sum), the Kubernetes OpenAPI spec ships in the k8s.io/kubernetes module,
# KEDA's CRDs and Temporal scaler in github.com/kedacore/keda/v2, the
# PodMonitor CRD in github.com/prometheus-operator/prometheus-operator and
# the PodMonitoring CRD in github.com/GoogleCloudPlatform/prometheus-engine,
# fetched with `go mod download` (checked against the checksum database, and
# against the sums below). No cluster, no network beyond the proxy.
#
#   deploy/k8s/validate.sh             validate
#   deploy/k8s/validate.sh -o FILE     also write the rendered base
set -euo pipefail

# Kubernetes 1.30 is the oldest we support: the ingress's preStop sleep
# action is on by default from 1.30.
K8S_VERSIONS=(v1.30.14 v1.37.2)
KEDA_VERSION=v2.17.3 # the oldest with the temporal scaler that we support
# The Prometheus Operator release whose CRDs the module proxy serves; the
# PodMonitor fields we use are in every monitoring.coreos.com/v1 release.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# GKE Managed Prometheus: the oldest release on the proxy (GKE runs newer).
GMP_VERSION=v0.12.0
declare -A MODULE_SUMS=(
  [k8s.io/kubernetes@v1.30.14]=h1:MrlKXh9uhLIJpyxOeXhcndzRVSvwiV9iJ8NgH8nqPsg=
  [k8s.io/kubernetes@v1.37.2]=h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=
  [github.com/kedacore/keda/v2@v2.17.3]=h1:OlGqI/Ih1kUcz0gJ9B5nxOZU+j5GXQzc2ELByHs7cYA=
  [github.com/prometheus-operator/prometheus-operator@v0.85.0]=h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s=
  [github.com/GoogleCloudPlatform/prometheus-engine@v0.12.0]=h1:PIqrMbvyqW581abmvVlW6U/osjlGnKFl/+I4zHo1tyc=
)

k8s_dir=$(cd "$(dirname "$0")" && pwd)
tools=$k8s_dir/validate
out_file=""
if [ "${1:-}" = "-o" ]; then out_file=${2:?-o needs a file}; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build both tools once (go caches them) and run the binaries directly:
# `go tool` would check them for staleness on every call.
kustomize_bin=$(go -C "$tools" tool -n kustomize)
kubeconform_bin=$(go -C "$tools" tool -n kubeconform)
kustomize() { "$kustomize_bin" "$@"; }
kubeconform() { "$kubeconform_bin" "$@"; }

# module_dir MODULE@VERSION: download it (once; the module cache keeps it)
# and print where it is, after checking its hash.
module_dir() {
  local json dir sum
  json=$(go -C "$tools" mod download -json "$1")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")
  if [ -z "$dir" ] || [ "$sum" != "${MODULE_SUMS[$1]}" ]; then
    echo "validate.sh: $1: got hash '$sum', want '${MODULE_SUMS[$1]}'" >&2
    echo "$json" >&2
    return 1
  fi
  echo "$dir"
}

echo "--- schemas: Kubernetes ${K8S_VERSIONS[*]}, KEDA $KEDA_VERSION, Prometheus Operator $PROMETHEUS_OPERATOR_VERSION, GKE Managed Prometheus $GMP_VERSION (strict: unknown fields refused)"
keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
promop=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
gmp=$(module_dir "github.com/GoogleCloudPlatform/prometheus-engine@$GMP_VERSION")
crds="$keda/config/crd/bases,$promop/example/prometheus-operator-crd,$gmp/charts/operator/crds"
go -C "$tools" build -o "$work/schemagen" ./schemagen
go -C "$tools" build -o "$work/policycheck" ./policycheck
for v in "${K8S_VERSIONS[@]}"; do
  k8s=$(module_dir "k8s.io/kubernetes@$v")
  "$work/schemagen" -swagger "$k8s/api/openapi-spec/swagger.json" \
    -crds "$crds" -temporal-scaler "$keda/pkg/scalers/temporal.go" \
    -out "$work/schemas/$v"
done

# validate FILE [-q]: every object valid for every version, and the network
# policies sound; prints kubeconform's and policycheck's reports (-q: only
# policycheck's problems) and fails if anything is invalid or has no schema.
validate() {
  local status=0 v
  for v in "${K8S_VERSIONS[@]}"; do
    kubeconform -strict -summary -output text \
      -kubernetes-version "${v#v}" \
      -schema-location "$work/schemas/{{ .NormalizedKubernetesVersion }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$1" | sed "s|^|  [$v] |" || status=1
  done
  if [ "${2:-}" = -q ]; then
    "$work/policycheck" "$1" | grep '^policycheck:' | sed 's|^|  [policy] |' || true
    "$work/policycheck" "$1" >/dev/null || status=1
  else
    "$work/policycheck" "$1" | sed 's|^|  [policy] |' || status=1
  fi
  return $status
}

# Overlays and fixtures refer to the base and the components by relative
# paths (kustomize refuses absolute ones), so the combinations validated
# here live in a copy of the tree: tree/base, tree/components/*,
# tree/with-<component>, tree/fixtures/<name>.
tree=$work/tree
mkdir -p "$tree/fixtures"
cp -r "$k8s_dir/base" "$k8s_dir/components" "$tree/"

echo "--- deploy/k8s (the base)"
kustomize build "$k8s_dir" >"$work/rendered.yaml"
[ -n "$out_file" ] && cp "$work/rendered.yaml" "$out_file"
validate "$work/rendered.yaml"

rendered=1
for dir in "$k8s_dir"/components/*/; do
  name=$(basename "$dir")
  echo "--- the base with components/$name"
  mkdir -p "$tree/with-$name"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: wochit-ingest\nresources:\n  - ../base\ncomponents:\n  - ../components/%s\n' "$name" >"$tree/with-$name/kustomization.yaml"
  kustomize build "$tree/with-$name" >"$work/with-$name.yaml"
  validate "$work/with-$name.yaml" -q
  rendered=$((rendered + 1))
done

for dir in "$k8s_dir"/overlays/*/; do
  name=$(basename "$dir")
  echo "--- overlays/$name"
  kustomize build "$dir" >"$work/overlay-$name.yaml"
  validate "$work/overlay-$name.yaml"
  rendered=$((rendered + 1))
done

echo "--- negative fixtures (each must be rejected, for its stated reason)"
failed=0
count=0
for dir in "$tools"/testdata/*/; do
  name=$(basename "$dir")
  count=$((count + 1))
  want=$(sed -n 's/^# want: //p' "$dir/kustomization.yaml")
  if [ -z "$want" ]; then
    echo "  FAIL $name: no '# want:' line"; failed=1; continue
  fi
  cp -r "$dir" "$tree/fixtures/$name"
  if ! kustomize build "$tree/fixtures/$name" >"$work/$name.yaml" 2>"$work/$name.err"; then
    echo "  FAIL $name: does not render:"; sed 's/^/    /' "$work/$name.err"; failed=1; continue
  fi
  if report=$(validate "$work/$name.yaml" -q 2>&1); then
    echo "  FAIL $name: accepted, want rejected ($want)"; failed=1
  elif ! grep -qF -- "$want" <<<"$report"; then
    echo "  FAIL $name: rejected, but not for '$want':"; sed 's/^/    /' <<<"$report"; failed=1
  else
    echo "  ok   $name: rejected ($want)"
  fi
done
if [ "$count" -eq 0 ]; then
  echo "validate.sh: no fixtures under $tools/testdata" >&2; exit 1
fi
if [ "$failed" -ne 0 ]; then
  echo "validate.sh: the validator accepted a broken manifest, or refused it for another reason" >&2
  exit 1
fi
echo "deploy/k8s is valid ($rendered renderings: the base, with each component, each overlay); $count broken variants rejected"
