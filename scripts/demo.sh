#!/usr/bin/env bash
# The demo: start volshift-sim with 3 nodes in a temporary directory, deploy applications that
# write their own data on the node-local class 'local', migrate every claim to the class 'shared'
# with volshift, and show that each application is back and reads its own data. KEEP=1 leaves the
# cluster running.
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

# app_data: each application's own report of its data (it reads it back when it starts).
app_data() {
	local pod
	for pod in $(kubectl get pods -l app=ledger -o name) $(kubectl get pods -l app=notes -o name); do
		kubectl logs "$pod" | tail -n 1
	done | sort
}

say "The applications' own data, read back through their volumes"
before=$(app_data)
echo "$before"

say "Migrating every claim of class 'local' to class 'shared' with volshift"
"$bin/volshift" migrate --source-sc local --dest-sc shared --yes

say "Every claim has its old name, on class 'shared'; the StatefulSet's template names 'shared' too"
kubectl get pvc
kubectl get statefulset ledger -o 'jsonpath={.metadata.name}: claim template class {.spec.volumeClaimTemplates[0].spec.storageClassName}{"\n"}'
kubectl rollout status deployment/notes --timeout=60s
kubectl rollout status statefulset/ledger --timeout=90s

say "The applications, restarted on the new volumes, read their own data again"
for _ in $(seq 1 50); do
	after=$(app_data)
	[ "$(echo "$after" | grep -c .)" -eq "$(echo "$before" | grep -c .)" ] && break
	sleep 0.2
done
echo "$after"
if [ "$before" = "$after" ]; then
	echo "(identical to what they read before the migration)"
else
	echo "DIFFERENT from before the migration:" >&2
	diff <(echo "$before") <(echo "$after") >&2
	exit 1
fi

say "Look around"
if [ "${KEEP:-0}" = 1 ]; then
	echo "  export KUBECONFIG=$dir/kubeconfig"
	echo "  kubectl get pv,pvc,pods -o wide"
	echo "  kubectl get statefulset ledger -o yaml"
else
	echo "  the cluster stops now; run 'make demo KEEP=1' to keep it and look around with kubectl"
fi
