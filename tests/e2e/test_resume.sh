#!/usr/bin/env bash
# End-to-end: volshift killed at a failpoint (exit without cleanup), then `volshift resume` finishes
# the migration: every file equal, every claim Bound on the destination class, workloads back at
# their scale, nothing temporary left, no volume leaked, and the journal says done.
#
# Scenarios: deployment (one Deployment), statefulset (3 replicas, one claim each), namespaces (a
# Deployment in each of the namespaces a, b and c, migrated together) and nodelocal (a Deployment
# pinned to node-2 whose node-local volume moves to another node-local class, so the copy and the
# new volume must be on node-2).
#
# RESUME_POINTS (space-separated failpoints) and RESUME_SCENARIOS (space-separated scenarios) choose
# the tests: every point in every scenario (statefulset:* points only in the statefulset scenario).
# Without RESUME_SCENARIOS, each point runs in the scenario it belongs to (statefulset:* in
# statefulset, the others in deployment). RESUME_API_FAULTS=RATE runs every test under API faults
# from volshift-sim (api_faults_on RATE) during the first run and the resume; they are switched off
# before the checks and the counters printed ("faults: requests=N injected=M ...").
# Without any of the three: the short run of `make test`, one point in each scenario, one under
# API faults and one with --parallel 4 (three groups in flight). `make faults` runs every point in
# every scenario, then again under API faults, all with --parallel 4 (VS_MIGRATE_FLAGS). The warm
# copy is on (the default) throughout.
. "$(dirname "$0")/migrate_lib.sh"

API_FAULTS=${RESUME_API_FAULTS:-}

# scenario_NAME: deploy and fill; prints the claims to check as NS/NAME.
scenario_deployment() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	echo "default/web"
}

scenario_statefulset() {
	statefulset db local 3 >/dev/null
	ready statefulset db default 120
	local i
	for i in 0 1 2; do
		wait_for 30 "db-$i wrote" test -s "$(claim_dir "data-db-$i")/id"
		head -c 200000 /dev/urandom >"$(claim_dir "data-db-$i")/blob"
		echo "default/data-db-$i"
	done
}

scenario_namespaces() {
	local ns
	namespaces a b c
	for ns in a b c; do app web local "$ns" >/dev/null; done
	for ns in a b c; do
		ready deployment web "$ns"
		fill_tree "$(claim_dir web "$ns")"
		echo "$ns" >"$(claim_dir web "$ns")/namespace"
		echo "$ns/web"
	done
}

scenario_nodelocal() {
	storage_class local-b volshift-sim/local Delete WaitForFirstConsumer
	app pinned local default 10Mi ReadWriteOnce node-2 >/dev/null
	ready deployment pinned
	assert_eq node-2 "$(pv_node "$(jp pvc pinned '{.spec.volumeName}')")" "node of the source volume"
	fill_tree "$(claim_dir pinned)"
	echo "default/pinned"
}

# dest_class SCENARIO: the class the scenario migrates to.
dest_class() {
	case $1 in
	nodelocal) echo local-b ;;
	*) echo shared ;;
	esac
}

# workloads_back SCENARIO: the scenario's workloads run again, where they must.
workloads_back() {
	local ns
	case $1 in
	deployment) ready deployment web ;;
	statefulset) ready statefulset db default 120 ;;
	namespaces) for ns in a b c; do ready deployment web "$ns"; done ;;
	nodelocal)
		ready deployment pinned
		assert_eq node-2 "$(pv_node "$(jp pvc pinned '{.spec.volumeName}')")" "node of the new volume"
		assert_eq node-2 "$(kubectl get pods -l app=pinned -o 'jsonpath={.items[*].spec.nodeName}')" "node of the pod"
		;;
	esac
}

# crash_then_resume SCENARIO POINT
crash_then_resume() {
	local scenario=$1 point=$2 dest claims c rc=0 id sums=()
	dest=$(dest_class "$scenario")
	claims=$("scenario_$scenario")
	for c in $claims; do sums+=("$(tree_sum "$(claim_dir "${c#*/}" "${c%/*}")")"); done
	if [ -n "$API_FAULTS" ]; then
		api_faults_on "$API_FAULTS"
		trap api_faults_off EXIT # the counters even when the test stops here
	fi
	VOLSHIFT_FAILPOINTS="$point=crash" vs_migrate --source-sc local --dest-sc "$dest" >"$SIM_DIR/first.out" 2>&1 || rc=$?
	if [ "$rc" = 86 ]; then
		id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
		"$BIN/volshift" resume --force "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	else
		assert_eq 0 "$rc" "first run without reaching $point: $(tail -3 "$SIM_DIR/first.out")"
		id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	fi
	if [ -n "$API_FAULTS" ]; then
		trap - EXIT
		api_faults_off
	fi
	local k=0
	for c in $claims; do
		assert_eq "$dest" "$(jp pvc "${c#*/}" '{.spec.storageClassName}' "${c%/*}")" "class of $c"
		assert_eq Bound "$(jp pvc "${c#*/}" '{.status.phase}' "${c%/*}")" "phase of $c"
		[ "${sums[$k]}" = "$(tree_sum "$(claim_dir "${c#*/}" "${c%/*}")")" ] || fail "data of $c differs after resume"
		k=$((k + 1))
	done
	workloads_back "$scenario"
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "journal phase"
	no_leftovers
	local unbound
	unbound=$(kubectl get pv -o json | jq -r '.items[] | select(.status.phase != "Bound") | .metadata.name')
	[ -z "$unbound" ] || fail "volumes left unbound (leaked): $unbound"
}

# add_test SCENARIO POINT [RATE [PARALLEL]]: defines the test of SCENARIO crashed at POINT (under API
# faults at RATE; with --parallel PARALLEL).
add_test() {
	eval "test_resume_${1}_after_crash_at_${2//[:-]/_}${3:+_under_api_faults}${4:+_parallel_$4}() {
		API_FAULTS=${3:-}
		VS_MIGRATE_FLAGS='${4:+--parallel $4} ${VS_MIGRATE_FLAGS:-}' crash_then_resume $1 $2
	}"
}

if [ -z "${RESUME_POINTS:-}${RESUME_SCENARIOS:-}${RESUME_API_FAULTS:-}" ]; then
	add_test deployment copy:before
	add_test namespaces swap:original-deleted
	add_test nodelocal swap:claim-created
	add_test deployment swap:pinned
	add_test statefulset statefulset:deleted
	add_test deployment swap:claim-bound 0.05
	add_test namespaces warm:after "" 4
	add_test deployment arm:done
	add_test namespaces verify:before "" 4
else
	for point in ${RESUME_POINTS:-copy:before swap:original-deleted swap:claim-created swap:pinned statefulset:deleted}; do
		for scenario in ${RESUME_SCENARIOS:-natural}; do
			case $scenario:$point in
			natural:statefulset:*) scenario=statefulset ;;
			natural:*) scenario=deployment ;;
			statefulset:*) ;;
			*:statefulset:*) continue ;; # no StatefulSet in the scenario: the point is never reached
			esac
			add_test "$scenario" "$point" "$API_FAULTS"
		done
	done
fi

e2e_main
