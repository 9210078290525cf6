#!/usr/bin/env bash
# End-to-end: volshift killed at a failpoint before its group's workloads start on the destination,
# then `volshift rollback` puts the cluster back as it was: every file equal, every claim Bound to
# its original volume in the source class, the workload back at its scale, nothing temporary left,
# no volume leaked, the journal says rolled-back (and resume refuses it); in a group of two claims
# (a Deployment with two, a StatefulSet of two replicas) also when one claim was switched and the
# other not. After its group started, a claim stays and --migrate-back copies it back.
# ROLLBACK_POINTS (space-separated) chooses the failpoints of the one-claim Deployment,
# ROLLBACK_GROUP_POINTS and ROLLBACK_GROUP_SCENARIOS those inside a group of two; `make faults`
# passes all of them.
# ROLLBACK_API_FAULTS=RATE runs the first run and the rollback under volshift-sim's API faults (off
# before the checks; the counters printed as "faults: requests=N injected=M ...").
. "$(dirname "$0")/migrate_lib.sh"

POINTS=${ROLLBACK_POINTS:-"copy:after swap:original-deleted swap:claim-bound swap:after"}

# scenario_NAME: deploy and fill; prints the claims as NS/NAME.
scenario_deployment() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	echo default/web
}

# A Deployment with two claims: one group of two.
scenario_pair() {
	local c
	for c in pair-a pair-b; do claim "$c" local >/dev/null; done
	kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: pair}
spec:
  replicas: 1
  selector: {matchLabels: {app: pair}}
  template:
    metadata: {labels: {app: pair}}
    spec:
      containers:
      - name: app
        image: busybox
        command: [/bin/sh, -c, 'for d in /a /b; do [ -f \$d/id ] || echo "\$HOSTNAME" > \$d/id; done; exec sleep 3600']
        volumeMounts: [{name: a, mountPath: /a}, {name: b, mountPath: /b}]
      volumes:
      - {name: a, persistentVolumeClaim: {claimName: pair-a}}
      - {name: b, persistentVolumeClaim: {claimName: pair-b}}
YAML
	ready deployment pair
	for c in pair-a pair-b; do
		fill_tree "$(claim_dir "$c")"
		echo "default/$c"
	done
}

# A StatefulSet of two replicas: one group of two.
scenario_statefulset2() {
	local i
	statefulset db local 2 >/dev/null
	ready statefulset db default 120
	for i in 0 1; do
		wait_for 30 "db-$i wrote" test -s "$(claim_dir "data-db-$i")/id"
		head -c 200000 /dev/urandom >"$(claim_dir "data-db-$i")/blob"
		echo "default/data-db-$i"
	done
}

# workloads_back SCENARIO: the scenario's workloads run again at their scale, without volshift's
# annotation.
workloads_back() {
	local kind name scale
	case $1 in
	deployment) kind=deployment name=web scale=1 ;;
	pair) kind=deployment name=pair scale=1 ;;
	statefulset2) kind=statefulset name=db scale=2 ;;
	esac
	ready "$kind" "$name" default 120
	assert_eq "$scale" "$(jp "$kind" "$name" '{.spec.replicas}')" "scale of $name"
	assert_eq "" "$(jp "$kind" "$name" '{.metadata.annotations.kurl\.sh/pvcmigrate-scale}')" "scale annotation left on $name"
}

# crash_then_rollback SCENARIO POINT: killed at POINT (with @N, its Nth time), rolled back: every
# claim back on its original volume of class local with its data, the workload back.
crash_then_rollback() {
	local scenario=$1 point=$2 rc=0 id claims c ns name sums=() pvs=() k=0
	claims=$("scenario_$scenario")
	for c in $claims; do
		sums+=("$(tree_sum "$(claim_dir "${c#*/}" "${c%/*}")")")
		pvs+=("$(jp pvc "${c#*/}" '{.spec.volumeName}' "${c%/*}")")
	done
	[ -z "${ROLLBACK_API_FAULTS:-}" ] || api_faults_on "$ROLLBACK_API_FAULTS"
	id=$(crash_at "$point") || return 1
	"$BIN/volshift" rollback --force "$id" >"$SIM_DIR/rollback.out" 2>&1 ||
		fail "rollback failed: $(tail -5 "$SIM_DIR/rollback.out")"
	[ -z "${ROLLBACK_API_FAULTS:-}" ] || api_faults_off
	! grep -q "stays on the destination" "$SIM_DIR/rollback.out" ||
		fail "a claim of a group that never started stays on the destination: $(cat "$SIM_DIR/rollback.out")"
	for c in $claims; do
		ns=${c%/*} name=${c#*/}
		assert_eq local "$(jp pvc "$name" '{.spec.storageClassName}' "$ns")" "class of $c after rollback"
		assert_eq "${pvs[$k]}" "$(jp pvc "$name" '{.spec.volumeName}' "$ns")" "$c is on its original volume"
		assert_eq Bound "$(jp pvc "$name" '{.status.phase}' "$ns")" "phase of $c"
		[ "${sums[$k]}" = "$(tree_sum "$(claim_dir "$name" "$ns")")" ] || fail "data of $c differs after rollback"
		assert_eq Delete "$(jp pv "${pvs[$k]}" '{.spec.persistentVolumeReclaimPolicy}' '')" "reclaim policy of ${pvs[$k]} restored"
		assert_eq "" "$(jp pv "${pvs[$k]}" '{.metadata.annotations.volshift\.io/original-reclaim-policy}' '')" \
			"annotation left on ${pvs[$k]}"
		k=$((k + 1))
	done
	workloads_back "$scenario"
	assert_eq rolled-back "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "journal phase"
	no_leftovers
	local unbound
	unbound=$(kubectl get pv -o json | jq -r '.items[] | select(.status.phase != "Bound") | .metadata.name')
	[ -z "$unbound" ] || fail "volumes left unbound (leaked): $unbound"
	rc=0
	"$BIN/volshift" resume --force "$id" >"$SIM_DIR/resume.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "resume of a rolled-back migration must be refused"
	grep -q "rolled back" "$SIM_DIR/resume.out" || fail "resume gave no reason: $(cat "$SIM_DIR/resume.out")"
}

# add_test SCENARIO POINT: the test of SCENARIO killed at POINT, rolled back.
add_test() {
	local tname="${2//[:@-]/_}"
	eval "test_rollback_${1}_after_crash_at_${tname}() { crash_then_rollback $1 $2; }"
}

# Inside a group of two claims: every point between its first copy and its start, the second
# claim's where it comes after the first claim's swap.
GROUP_POINTS=${ROLLBACK_GROUP_POINTS:-"swap:before@2 swap:after@1"}
for point in $POINTS; do add_test deployment "$point"; done
for scenario in ${ROLLBACK_GROUP_SCENARIOS:-pair statefulset2}; do
	for point in $GROUP_POINTS; do add_test "$scenario" "$point"; done
done

# A group whose workloads started on the destination keeps its claims there (they may have
# written); the rollback says so, gives the original volume back to its policy, and --migrate-back
# copies the claim back to the source class with every file intact.
test_rollback_after_the_start_keeps_then_migrates_back() {
	local id sum pv
	sum=$(filled_app web)
	pv=$(jp pvc web '{.spec.volumeName}')
	id=$(crash_at start:after) || return 1
	"$BIN/volshift" rollback --force "$id" >"$SIM_DIR/rollback.out" 2>&1 || fail "rollback failed: $(tail -5 "$SIM_DIR/rollback.out")"
	grep -q "default/web stays on the destination" "$SIM_DIR/rollback.out" || fail "kept claim not reported: $(cat "$SIM_DIR/rollback.out")"
	grep -q -- "--migrate-back" "$SIM_DIR/rollback.out" || fail "no hint about --migrate-back"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web stays on the destination"
	wait_for 30 "the original volume $pv given back to its policy Delete and removed" \
		sh -c "! kubectl get pv $pv >/dev/null 2>&1"
	ready deployment web
	"$BIN/volshift" rollback --force --yes --migrate-back "$id" >"$SIM_DIR/back.out" 2>&1 ||
		fail "migrate-back failed: $(tail -5 "$SIM_DIR/back.out")"
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "web migrated back"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after migrating back"
	ready deployment web
	no_leftovers
}

# A running migration (its lease live) cannot be rolled back under its feet.
test_rollback_refuses_a_live_migration() {
	local id rc=0
	app web local >/dev/null
	ready deployment web
	kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: volshift-system}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: volshift-live1
  namespace: volshift-system
  labels: {app.kubernetes.io/managed-by: volshift, volshift.io/migration: live1}
  annotations: {volshift.io/holder: "someone-else@host pid 1", volshift.io/lease-renewed: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
data: {phase: running}
YAML
	"$BIN/volshift" rollback live1 >"$SIM_DIR/rollback.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "rollback of a live migration must fail"
	grep -q "someone-else" "$SIM_DIR/rollback.out" || fail "the holder is not named: $(cat "$SIM_DIR/rollback.out")"
}

e2e_main
