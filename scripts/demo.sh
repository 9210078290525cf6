#!/usr/bin/env bash
# The demo: start volshift-sim with 3 nodes in a temporary directory, deploy applications that
# write their own data, and show them with kubectl. KEEP=1 leaves the cluster running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/${BUILD:-build}/bin"
dir=$(mktemp -d /tmp/volshift-demo-XXXXXX)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

"$bin/volshift-sim" run --data-dir "$dir" --nodes 3 >"$dir/sim.out" 2>"$dir/sim.log" &
sim=$!
stop() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "volshift-sim keeps running (pid $sim): export KUBECONFIG=$dir/kubeconfig; stop it with: kill $sim"
	else
		kill -TERM "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
		rm -rf "$dir"
	fi
}
trap stop EXIT
for _ in $(seq 1 100); do grep -q ready "$dir/sim.out" 2>/dev/null && break; sleep 0.1; done
cat "$dir/sim.out"
export KUBECONFIG="$dir/kubeconfig"

say "The cluster: nodes and storage classes"
kubectl get nodes
kubectl get storageclass

say "Deploying a Deployment and a 3-replica StatefulSet on the 'local' class"
kubectl apply -f "$root/scripts/demo-apps.yaml"
kubectl rollout status deployment/notes --timeout=60s
kubectl rollout status statefulset/ledger --timeout=90s

say "Every claim is bound to a volume on the node of its pod"
kubectl get pvc
kubectl get pods -o wide

say "The applications' own data, read back through their volumes"
for pod in $(kubectl get pods -l app=ledger -o name) $(kubectl get pods -l app=notes -o name); do
	printf '%s: ' "$pod"
	kubectl logs "$pod" | tail -n 1
done

say "Look around"
if [ "${KEEP:-0}" = 1 ]; then
	echo "  export KUBECONFIG=$dir/kubeconfig"
	echo "  kubectl get pv,pvc,pods -o wide"
else
	echo "  the cluster stops now; run 'make demo KEEP=1' to keep it and look around with kubectl"
fi
