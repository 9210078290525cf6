#!/usr/bin/env bash
# End-to-end: volshift-sim's own command line, its kubeconfig and its shutdown.
. "$(dirname "$0")/lib.sh"

test_bad_usage_exits_2() {
	local rc out
	out=$("$BIN/volshift-sim" run 2>&1) && rc=0 || rc=$?
	assert_eq 2 "$rc" "exit code without --data-dir"
	[[ "$out" == *"--data-dir is required"* ]] || fail "message: $out"
	"$BIN/volshift-sim" run --data-dir /tmp/x --nodes zero >/dev/null 2>&1 && rc=0 || rc=$?
	assert_eq 2 "$rc" "exit code for --nodes zero"
}

test_kubeconfig_and_nodes() {
	[ "$KUBECONFIG" = "$SIM_DIR/kubeconfig" ] || fail "kubeconfig path $KUBECONFIG"
	assert_eq "$SIM_URL" "$(kubectl config view -o 'jsonpath={.clusters[0].cluster.server}')" "server in kubeconfig"
	assert_eq "node-1 node-2 node-3" "$(kubectl get nodes -o 'jsonpath={.items[*].metadata.name}')" "nodes"
	assert_eq "true" "$(kubectl get storageclass local -o 'jsonpath={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}')" "default class"
	assert_eq WaitForFirstConsumer "$(kubectl get storageclass local -o 'jsonpath={.volumeBindingMode}')" "local binding mode"
	assert_eq Immediate "$(kubectl get storageclass shared -o 'jsonpath={.volumeBindingMode}')" "shared binding mode"
}

test_sigterm_stops_every_pod() {
	local marker=$((RANDOM + 40000))
	sim_start # a second cluster, a child of this test's shell so that its exit code can be read
	kubectl run sleeper --image=busybox --restart=Never --command -- sleep "$marker"
	wait_for 30 "sleeper Running" field_is pod sleeper '{.status.phase}' Running
	pgrep -f "sleep $marker" >/dev/null || fail "no process for the pod"
	kill -TERM "$SIM_PID"
	local rc=0
	wait "$SIM_PID" || rc=$?
	rm -rf "$SIM_DIR"
	assert_eq 0 "$rc" "exit code after SIGTERM"
	! pgrep -f "sleep $marker" >/dev/null || fail "pod process survived volshift-sim"
}
e2e_main
