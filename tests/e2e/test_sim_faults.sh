#!/usr/bin/env bash
# End-to-end: volshift-sim's API fault injection (--faults SPEC, GET/PUT /volshift-sim/faults):
# Status errors, Retry-After, connections reset before and after the request took effect,
# latency, watches cut short, counters and seeds; and killing a container's process.
. "$(dirname "$0")/lib.sh"

# api METHOD PATH [JSON]: one request with curl; prints the HTTP status and leaves the reply in
# $SIM_DIR/reply and its headers in $SIM_DIR/headers. Fails as curl does (52: a reset connection).
api() {
	local data=()
	[ $# -lt 3 ] || data=(-H 'Content-Type: application/json' --data-binary "$3")
	sim_curl -sS -X "$1" "${data[@]}" -D "$SIM_DIR/headers" -o "$SIM_DIR/reply" -w '%{http_code}' "$SIM_URL$2"
}

CM_PATH=/api/v1/namespaces/default/configmaps
cm_json() { printf '{"metadata":{"name":"%s"},"data":{"k":"v"}}' "$1"; }

# counter KEY: requests, injected, or the count of one kind (500, reset, watch-cut, ...).
counter() {
	sim_fault_report | jq -r --arg k "$1" 'if $k == "requests" or $k == "injected" then .[$k] else .faults[$k] end'
}

# reply_is FIELD VALUE: a field of the last reply (jq path).
reply_is() {
	assert_eq "$2" "$(jq -r "$1" "$SIM_DIR/reply")" "reply $1"
}

test_500_on_one_resource_only() {
	local out
	sim_faults rate=1,kinds=500,resources=pods
	! out=$(kubectl get pods 2>&1) || fail "kubectl get pods worked: $out"
	[[ "$out" == *"Error from server (InternalError)"*"injected by volshift-sim"* ]] || fail "kubectl said: $out"
	kubectl get pvc >/dev/null 2>&1 || fail "kubectl get pvc failed under faults on pods"
	assert_eq 500 "$(api GET /api/v1/namespaces/default/pods)" "status of a pods list"
	reply_is .reason InternalError
	reply_is .code 500
	reply_is .kind Status
}

test_faults_come_before_the_request() {
	sim_faults rate=1,kinds=503,verbs=create,resources=configmaps
	assert_eq 503 "$(api POST "$CM_PATH" "$(cm_json early)")" "status of a create"
	reply_is .reason ServiceUnavailable
	assert_eq 404 "$(api GET "$CM_PATH/early")" "a get of the configmap (get is not faulted)"
	sim_faults off
	assert_eq 201 "$(api POST "$CM_PATH" "$(cm_json early)")" "status of the create without faults"
}

test_429_carries_retry_after() {
	sim_faults rate=1,kinds=429,retry-after=3
	assert_eq 429 "$(api GET "$CM_PATH")" "status"
	grep -qix 'Retry-After: 3.\?' "$SIM_DIR/headers" || fail "no Retry-After: 3 in: $(cat "$SIM_DIR/headers")"
	reply_is .reason TooManyRequests
	reply_is .details.retryAfterSeconds 3
}

test_reset_closes_the_connection() {
	local rc=0
	sim_faults rate=1,kinds=reset,verbs=create
	api POST "$CM_PATH" "$(cm_json before)" >/dev/null 2>&1 || rc=$?
	assert_eq 52 "$rc" "curl's exit code (empty reply) for reset"
	assert_eq 404 "$(api GET "$CM_PATH/before")" "the reset create had no effect"
	sim_faults rate=1,kinds=reset-after,verbs=create
	rc=0
	api POST "$CM_PATH" "$(cm_json after)" >/dev/null 2>&1 || rc=$?
	assert_eq 52 "$rc" "curl's exit code (empty reply) for reset-after"
	assert_eq 200 "$(api GET "$CM_PATH/after")" "the reset-after create took effect"
	reply_is .data.k v
}

test_latency_delays_and_serves() {
	local t
	sim_faults rate=1,kinds=latency,latency-ms=800
	t=$(sim_curl -sS -o "$SIM_DIR/reply" -w '%{http_code} %{time_total}' "$SIM_URL$CM_PATH")
	assert_eq 200 "${t% *}" "status of a delayed request"
	awk -v t="${t#* }" 'BEGIN { exit !(t >= 0.8) }' || fail "the request took ${t#* }s, less than the latency"
	reply_is .kind ConfigMapList
}

test_counters_count() {
	local i
	sim_faults rate=1,kinds=503,resources=secrets
	for i in 1 2 3 4; do api GET /api/v1/namespaces/default/secrets >/dev/null; done
	for i in 1 2 3; do api GET "$CM_PATH" >/dev/null; done
	api GET /api/v1 >/dev/null # discovery is never counted, nor faulted
	assert_eq 7 "$(counter requests)" "requests"
	assert_eq 4 "$(counter 503)" "503s"
	assert_eq 0 "$(counter 500)" "500s"
	assert_eq 4 "$(counter injected)" "faults injected"
}

test_seed_makes_runs_reproducible() {
	local spec=rate=0.5,kinds=500:503,seed=11 first second i
	sim_faults "$spec"
	first=$(for i in $(seq 20); do api GET "$CM_PATH"; echo; done)
	sim_faults "$spec"
	second=$(for i in $(seq 20); do api GET "$CM_PATH"; echo; done)
	assert_eq "$first" "$second" "status codes after the same seed"
	echo "$first" | grep -qx 200 || fail "no request got through at rate 0.5: $first"
	echo "$first" | grep -qx '50[03]' || fail "no request faulted at rate 0.5: $first"
	[[ "$(sim_fault_report | jq -r .spec)" == *"seed=11" ]] || fail "spec: $(sim_fault_report)"
}

test_bad_spec_is_refused() {
	local out rc=0
	out=$("$BIN/volshift-sim" run --data-dir "$SIM_DIR/x" --faults rate=2 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit code for --faults rate=2"
	[[ "$out" == *"--faults: fault spec: rate=2: expected a probability from 0 to 1"* ]] || fail "message: $out"
	sim_faults rate=1,kinds=500
	assert_eq 400 "$(sim_curl -sS -o "$SIM_DIR/reply" -w '%{http_code}' -X PUT --data-binary 'kinds=teapot' "$SIM_URL/volshift-sim/faults")" "status of a bad PUT"
	reply_is .message 'fault spec: kinds: unknown name "teapot"'
	[[ "$(sim_fault_report | jq -r .spec)" == rate=1,kinds=500,* ]] || fail "a bad spec replaced the one in force"
}

test_faults_from_the_command_line_then_off() {
	local out
	sim_start 1 --faults rate=1,kinds=500,resources=pods # a second cluster, stopped here
	trap 'kill -TERM "$SIM_PID" 2>/dev/null || true' EXIT
	! out=$(kubectl get pods 2>&1) || fail "kubectl get pods worked: $out"
	[[ "$out" == *InternalError* ]] || fail "kubectl said: $out"
	sim_faults off
	assert_eq off "$(sim_fault_report | jq -r .spec)" "spec after off"
	kubectl get pods >/dev/null 2>&1 || fail "kubectl get pods failed after faults off"
	kill -TERM "$SIM_PID"
	wait "$SIM_PID" || fail "volshift-sim exited with $?"
	grep -q 'faults: 2 requests, 1 faults injected {"500":1,' "$SIM_DIR/sim.log" ||
		fail "no counters at shutdown: $(grep faults: "$SIM_DIR/sim.log")"
	rm -rf "$SIM_DIR"
}

test_watch_cut_ends_watches_early() {
	local t0 rc=0
	sim_faults watch-cut=1,watch-cut-ms=1000
	t0=$SECONDS
	timeout 20 curl "${SIM_CURL_AUTH[@]}" -sSN -o "$SIM_DIR/watch" "$SIM_URL$CM_PATH?watch=1" || rc=$?
	assert_eq 0 "$rc" "curl's exit code for a cut watch (the stream ends cleanly)"
	[ $((SECONDS - t0)) -le 3 ] || fail "the watch lasted $((SECONDS - t0))s"
	timeout 20 kubectl get configmaps -w >/dev/null 2>&1 || fail "kubectl get -w did not end by itself ($?)"
	assert_eq 2 "$(counter watch-cut)" "watches cut"
	sim_faults off
	rc=0
	timeout 3 curl "${SIM_CURL_AUTH[@]}" -sSN -o "$SIM_DIR/watch" "$SIM_URL$CM_PATH?watch=1" || rc=$?
	assert_eq 124 "$rc" "exit code of a watch without cuts after 3 s (still open)"
}

# sleeper NAME SECONDS: a running pod; prints its container's PID from the containerID sim://PID.
sleeper() {
	local id
	kubectl run "$1" --image=busybox --restart=Never --command -- sleep "$2" >/dev/null
	wait_for 30 "$1 Running" field_is pod "$1" '{.status.phase}' Running
	id=$(jp pod "$1" '{.status.containerStatuses[0].containerID}')
	[[ "$id" == sim://[0-9]* ]] || fail "containerID of $1: $id"
	kill -0 "${id#sim://}" || fail "no process ${id#sim://} for $1"
	echo "${id#sim://}"
}

# terminated_by_kill NAME PID: the pod reports its container killed and the process is gone.
terminated_by_kill() {
	wait_for 30 "$1 terminated" field_is pod "$1" '{.status.containerStatuses[0].state.terminated.exitCode}' 137
	assert_eq Failed "$(jp pod "$1" '{.status.phase}')" "phase of $1"
	! kill -0 "$2" 2>/dev/null || fail "process $2 of $1 still runs"
}

test_kill_a_pod_through_the_endpoint() {
	local pid
	pid=$(sleeper victim 3601)
	assert_eq 200 "$(api POST "/volshift-sim/kill?namespace=default&pod=victim")" "status of kill"
	reply_is '.killed[0].pid' "$pid"
	reply_is '.killed[0].container' victim
	terminated_by_kill victim "$pid"
	assert_eq 409 "$(api POST "/volshift-sim/kill?pod=victim")" "kill of a pod with nothing running"
	assert_eq 404 "$(api POST "/volshift-sim/kill?pod=nosuch")" "kill of an unknown pod"
}

test_kill_a_pod_by_its_container_pid() {
	local pid
	pid=$(sleeper victim 3602)
	kill -KILL "$pid"
	terminated_by_kill victim "$pid"
}

e2e_main
