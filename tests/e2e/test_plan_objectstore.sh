#!/usr/bin/env bash
# End-to-end: a plan's objectStore step (seed 000: MinIO moved to Rook's RGW as one step of an
# ordered migration) between two moto_server instances checking SigV4, with the keys in Secrets of
# volshift-sim. After the run the trees are equal on both sides (described by s3_tool.py, not
# volshift's code), the step's record holds the sync's counts and the step after it ran. Killed
# mid-sync (kill -9) or between the sync and its record (a failpoint), `volshift resume` finishes
# without copying again what was copied; refused keys fail the step and a resume with the right
# ones finishes; undo deletes nothing. No key ever appears in the journal or the output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"

s3_require_moto

vs() {
	"$BIN/volshift" "$@"
}

# The run of plan NAME, decoded from its journal, as JSON.
run_status() {
	vs status "$1" --output json | jq -c 'select(.event == "plan-run-status") | .run'
}

# The record of the sync step.
sync_record() {
	run_status move-objects | jq -c '.steps["step/sync-object-store"]'
}

# objects_setup: the moto servers, their keys in Secrets (minio/minio-credentials,
# rook-ceph/rgw-credentials), and SRC filled: COUNT (default 300) small objects in bucket data,
# one with a content type and user metadata, and a second bucket.
objects_setup() {
	s3_setup
	kubectl create namespace minio >/dev/null
	kubectl create namespace rook-ceph >/dev/null
	s3_secret minio minio-credentials "$SRC_AK" "$SRC_SK"
	s3_secret rook-ceph rgw-credentials "$DST_AK" "$DST_SK"
	s3tool SRC fill data small/ "${1:-300}" 1000 20000
	s3tool SRC put data "with space/meta.txt" --text "kept" --type "text/plain; charset=utf-8" --meta owner=ops
	s3tool SRC put registry "docker/registry/v2/blob" --size 5000
	OBJECTS=$(("${1:-300}" + 2))
}

# objects_plan PARALLEL: the plan move-objects: the sync, then a ConfigMap that points the
# object store's users at the destination (the step that must come after it).
objects_plan() {
	cat >"$SIM_DIR/plan.yaml" <<YAML
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: move-objects}
spec:
  steps:
  - name: sync-object-store
    objectStore:
      source: $SRC_URL
      dest: $DST_URL
      sourceCredentials: {secret: {namespace: minio, name: minio-credentials}}
      destCredentials: {secret: {namespace: rook-ceph, name: rgw-credentials}}
      parallel: ${1:-4}
      verify: checksum
  - name: switch-consumers
    apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: object-store, namespace: default}, data: {endpoint: "$DST_URL"}}
YAML
}

# no_keys FILE...: no access key or secret key of either side (nor a Secret's base64 of one) in
# the journal's ConfigMaps or in FILEs.
no_keys() {
	local k found=
	kubectl get configmaps -n volshift-system -o json >"$SIM_DIR/journal.json"
	[ "$(jq '.items | length' "$SIM_DIR/journal.json")" -ge 1 ] || fail "no journal ConfigMap"
	for k in "$SRC_AK" "$SRC_SK" "$DST_AK" "$DST_SK"; do
		grep -qF -e "$k" -e "$(printf %s "$k" | base64 -w0)" "$SIM_DIR/journal.json" "$@" && found+=" ${k:0:4}..."
	done
	[ -z "$found" ] || fail "keys in the journal or the output:$found"
}

# The s3-summary of the object-store events in FILE (the run's JSON output).
sync_summary() {
	jq -c 'select(.event == "object-store" and .detail.event == "s3-summary") | .detail' "$1" | tail -n1
}

test_plan_object_store_step_then_undo() {
	objects_setup
	objects_plan
	vs run "$SIM_DIR/plan.yaml" --yes --output json >"$SIM_DIR/run.json" 2>&1 ||
		fail "run failed: $(tail -5 "$SIM_DIR/run.json")"
	equal_trees
	assert_eq "$OBJECTS" "$(sync_summary "$SIM_DIR/run.json" | jq .copied)" "objects copied (summary event)"
	assert_eq sync-object-store "$(jq -r 'select(.event == "object-store") | .step' "$SIM_DIR/run.json" | sort -u)" \
		"the step named in its sync's events"
	jq -s -e 'any(.[]; .event == "object-store" and .detail.event == "s3-verified" and .detail.mode == "checksum")' \
		"$SIM_DIR/run.json" >/dev/null || fail "no checksum verification"
	assert_eq "done $OBJECTS $OBJECTS 0 0" "$(sync_record | jq -r '"\(.state) \(.sync.objects) \(.sync.copied) \(.sync.skipped) \(.sync.deleted)"')" \
		"the step's record (state, objects, copied, skipped, deleted)"
	[ "$(sync_record | jq .sync.bytes)" -gt 300000 ] || fail "bytes copied: $(sync_record)"
	assert_eq "$DST_URL" "$(jp configmap object-store '{.data.endpoint}')" "the step after the sync"
	no_keys "$SIM_DIR/run.json"
	vs undo move-objects >"$SIM_DIR/undo.out" 2>&1 || fail "undo failed: $(tail -5 "$SIM_DIR/undo.out")"
	grep -q "sync-object-store: note: nothing undone: the objects copied to $DST_URL stay there" "$SIM_DIR/undo.out" ||
		fail "undo did not say it deletes nothing: $(cat "$SIM_DIR/undo.out")"
	! kubectl get configmap object-store >/dev/null 2>&1 || fail "the step after the sync was not undone"
	equal_trees
	assert_eq undone "$(run_status move-objects | jq -r .phase)" "phase after undo"
}

test_plan_object_store_killed_mid_sync_then_resumed() {
	local pid n
	objects_setup 400
	objects_plan 2
	"$BIN/volshift" run "$SIM_DIR/plan.yaml" --yes --output json >"$SIM_DIR/killed.json" 2>&1 &
	pid=$!
	kill_mid_sync "$pid" "$SIM_DIR/killed.json" 50 '.event == "object-store" and .detail.event == "s3-copied"'
	n=$KILLED_AT
	[ "$n" -ge 1 ] && [ "$n" -lt "$OBJECTS" ] || fail "the sync was not killed mid-way ($n objects copied)"
	assert_eq intent "$(sync_record | jq -r .state)" "the step's state after the kill"
	vs resume move-objects >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	grep -q "^done: $OBJECTS objects: copied" "$SIM_DIR/resume.out" ||
		fail "the sync's summary is not in the resume's output: $(cat "$SIM_DIR/resume.out")"
	[ "$(sync_record | jq .sync.skipped)" -ge "$n" ] ||
		fail "the resumed sync skipped fewer than the $n objects copied before the kill: $(sync_record)"
	assert_eq "$OBJECTS" "$(sync_record | jq '.sync.copied + .sync.skipped')" "copied + skipped by the resumed sync"
	equal_trees
	assert_eq "$DST_URL" "$(jp configmap object-store '{.data.endpoint}')" "the step after the sync"
	assert_eq done "$(run_status move-objects | jq -r .phase)" "phase"
	no_keys "$SIM_DIR/killed.json" "$SIM_DIR/resume.out"
}

# A refused key fails the step (nothing copied, no key in its error); with the Secret fixed, resume
# finishes. Killed between the sync and its record, resume copies nothing again.
test_plan_object_store_refused_key_then_crash_after_the_sync() {
	local rc=0
	objects_setup 50
	objects_plan
	s3_secret rook-ceph rgw-credentials "$DST_AK" "wrong${DST_SK}"
	vs run "$SIM_DIR/plan.yaml" --yes >"$SIM_DIR/refused.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status with a refused key"
	grep -q "credentials were refused" "$SIM_DIR/refused.out" || fail "the error does not say why: $(cat "$SIM_DIR/refused.out")"
	assert_eq failed "$(sync_record | jq -r .state)" "the step's state"
	assert_eq "" "$(s3tool DST tree)" "the destination after the refused key"
	! grep -qF "wrong$DST_SK" "$SIM_DIR/refused.out" || fail "the wrong key in the output"
	no_keys "$SIM_DIR/refused.out"
	! grep -qF "wrong$DST_SK" "$SIM_DIR/journal.json" || fail "the wrong key in the journal"
	s3_secret rook-ceph rgw-credentials "$DST_AK" "$DST_SK"
	rc=0
	VOLSHIFT_FAILPOINTS="plan:applied=crash@1" vs resume move-objects >"$SIM_DIR/crashed.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "killed after the sync, before its record"
	equal_trees
	vs resume move-objects --output json >"$SIM_DIR/resume.json" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.json")"
	assert_eq "0 $OBJECTS" "$(sync_summary "$SIM_DIR/resume.json" | jq -r '"\(.copied) \(.skipped)"')" \
		"copied and skipped by the sync after the crash"
	assert_eq "done 0 $OBJECTS" "$(sync_record | jq -r '"\(.state) \(.sync.copied) \(.sync.skipped)"')" "the step's record"
	equal_trees
	assert_eq done "$(run_status move-objects | jq -r .phase)" "phase"
	no_keys "$SIM_DIR/crashed.out" "$SIM_DIR/resume.json"
}

e2e_main
