#!/usr/bin/env bash
# End-to-end: volshift killed at a failpoint before its group's workloads start on the destination,
# then `volshift rollback` puts the cluster back as it was: every file equal, every claim Bound to
# its original volume in the source class, the workload back at its scale, nothing temporary left,
# no volume leaked, the journal says rolled-back (and resume refuses it). After a swap whose old
# volume is gone, the claim stays and --migrate-back copies it back.
# ROLLBACK_POINTS (space-separated) chooses the failpoints; `make faults` passes all of them.
# ROLLBACK_API_FAULTS=RATE runs the first run and the rollback under volshift-sim's API faults (off
# before the checks; the counters printed as "faults: requests=N injected=M ...").
. "$(dirname "$0")/migrate_lib.sh"

POINTS=${ROLLBACK_POINTS:-"copy:after swap:original-deleted swap:claim-bound"}

# crash_then_rollback POINT: a Deployment on class local, killed at POINT, rolled back.
crash_then_rollback() {
	local point=$1 rc=0 id sum pv
	sum=$(filled_app web)
	pv=$(jp pvc web '{.spec.volumeName}')
	[ -z "${ROLLBACK_API_FAULTS:-}" ] || api_faults_on "$ROLLBACK_API_FAULTS"
	id=$(crash_at "$point") || return 1
	"$BIN/volshift" rollback --force "$id" >"$SIM_DIR/rollback.out" 2>&1 ||
		fail "rollback failed: $(tail -5 "$SIM_DIR/rollback.out")"
	[ -z "${ROLLBACK_API_FAULTS:-}" ] || api_faults_off
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "class of web after rollback"
	assert_eq "$pv" "$(jp pvc web '{.spec.volumeName}')" "web is on its original volume"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "phase of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after rollback"
	ready deployment web
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "scale of web"
	assert_eq "" "$(jp deployment web '{.metadata.annotations.kurl\.sh/pvcmigrate-scale}')" "scale annotation left on web"
	assert_eq Delete "$(jp pv "$pv" '{.spec.persistentVolumeReclaimPolicy}' '')" "reclaim policy of $pv restored"
	assert_eq "" "$(jp pv "$pv" '{.metadata.annotations.volshift\.io/original-reclaim-policy}' '')" "annotation left on $pv"
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

for point in $POINTS; do
	eval "test_rollback_after_crash_at_${point//[:-]/_}() { crash_then_rollback $point; }"
done

# A claim whose swap finished (old volume given back) stays on the destination; the rollback says
# so, and --migrate-back copies it back to the source class with every file intact.
test_rollback_after_swap_keeps_then_migrates_back() {
	local id sum
	sum=$(filled_app web)
	id=$(crash_at swap:after) || return 1
	"$BIN/volshift" rollback --force "$id" >"$SIM_DIR/rollback.out" 2>&1 || fail "rollback failed: $(tail -5 "$SIM_DIR/rollback.out")"
	grep -q "default/web stays on the destination" "$SIM_DIR/rollback.out" || fail "kept claim not reported: $(cat "$SIM_DIR/rollback.out")"
	grep -q -- "--migrate-back" "$SIM_DIR/rollback.out" || fail "no hint about --migrate-back"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web stays on the destination"
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
