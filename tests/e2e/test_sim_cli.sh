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
	out=$("$BIN/volshift-sim" run --data-dir /tmp/x --mount-poll-period 5ms 2>&1) && rc=0 || rc=$?
	assert_eq 2 "$rc" "exit code for --mount-poll-period 5ms"
	[[ "$out" == *"--mount-poll-period 5ms: expected at least 10ms"* ]] || fail "message: $out"
}

test_kubeconfig_and_nodes() {
	[ "$KUBECONFIG" = "$SIM_DIR/kubeconfig" ] || fail "kubeconfig path $KUBECONFIG"
	assert_eq "$SIM_URL" "$(kubectl config view -o 'jsonpath={.clusters[0].cluster.server}')" "server in kubeconfig"
	assert_eq "node-1 node-2 node-3" "$(kubectl get nodes -o 'jsonpath={.items[*].metadata.name}')" "nodes"
	assert_eq "true" "$(kubectl get storageclass local -o 'jsonpath={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}')" "default class"
	assert_eq WaitForFirstConsumer "$(kubectl get storageclass local -o 'jsonpath={.volumeBindingMode}')" "local binding mode"
	assert_eq Immediate "$(kubectl get storageclass shared -o 'jsonpath={.volumeBindingMode}')" "shared binding mode"
}

# sim_sockets STATE: how many of volshift-sim's accepted TCP connections are in STATE, a hex code
# of /proc/net/tcp (01 established, 08 close-wait: the client has closed, the server not yet).
sim_sockets() {
	local port
	port=$(printf '%04X' "${SIM_URL##*:}")
	awk -v p=":$port" -v st="$1" '$2 ~ p"$" && $4 == st' /proc/net/tcp | wc -l
}

no_close_wait() {
	[ "$(sim_sockets 08)" -eq 0 ]
}

streams_open() {
	[ "$(sim_sockets 01)" -ge "$1" ]
}

test_watches_and_followed_logs_end_when_their_client_goes() {
	local i pids=()
	kubectl run ticker --image=busybox --restart=Never --command -- sh -c 'while :; do echo tick; sleep 1; done'
	wait_for 30 "ticker Running" field_is pod ticker '{.status.phase}' Running
	for i in 1 2 3 4 5 6 7 8; do
		sim_curl -sN "$SIM_URL/api/v1/namespaces/default/pods?watch=true" >/dev/null &
		pids+=($!)
	done
	for i in 1 2 3; do
		sim_curl -sN "$SIM_URL/api/v1/namespaces/default/pods/ticker/log?follow=true" >/dev/null &
		pids+=($!)
	done
	wait_for 10 "11 streams open" streams_open 11
	kill "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
	# An API server ends a stream when its client goes; left open, each would hold a thread and a
	# connection until its deadline (half an hour for a watch without timeoutSeconds).
	wait_for 10 "no connection left in CLOSE-WAIT" no_close_wait
}

# A container's log is refused until the kubelet has reported the container started, with the
# kubelet's message as the API server relays it. A cluster whose nodes relist once a day: the
# container runs (it writes its file) but is never reported started.
test_log_refused_until_the_container_is_reported_started() {
	local out code log
	sim_start 3 --pleg-relist-period 24h
	kubectl run early --image=busybox --restart=Never --command -- sh -c 'echo hello; exec sleep 600'
	wait_for 30 "the container's process" bash -c "grep -qs hello $SIM_DIR/pods/default_early_*/early.log"
	out=$(sim_curl -sS -w '\n%{http_code}' "$SIM_URL/api/v1/namespaces/default/pods/early/log")
	code=${out##*$'\n'}
	assert_eq 400 "$code" "HTTP status of the log"
	assert_eq BadRequest "$(jq -r .reason <<<"${out%$'\n'*}")" "reason"
	assert_eq 'container "early" in pod "early" is waiting to start: ContainerCreating' \
		"$(jq -r .message <<<"${out%$'\n'*}")" "message"
	log=$(kubectl logs early 2>&1) && fail "kubectl logs succeeded: $log"
	[[ "$log" == *'is waiting to start: ContainerCreating'* ]] || fail "kubectl logs said: $log"
	assert_eq Pending "$(jp pod early '{.status.phase}')" "phase"
	kill -TERM "$SIM_PID"
	wait "$SIM_PID" || true
	rm -rf "$SIM_DIR"
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
