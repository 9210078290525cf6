#!/usr/bin/env bash
# End-to-end: volshift finishes a migration that pvmigrate left half-done, with no journal, from
# pvmigrate's own marks. The two states are made here with kubectl exactly as pvmigrate leaves
# them: (1) killed after creating NAME-pvcmigrate and scaling the workload to 0 with
# kurl.sh/pvcmigrate-scale; (2) killed in its swap, after both PVs were set Retain, the copy's PV
# annotated with kurl.sh/pvcmigrate-sourcens/-sourcepvc/-reclaim, and both claims deleted.
. "$(dirname "$0")/migrate_lib.sh"

# pvmigrate_dest NAME: pvmigrate's destination claim for NAME, in class shared, with its labels.
pvmigrate_dest() {
	kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $1-pvcmigrate
  labels: {kurl.sh/pvcmigrate: $1, kurl.sh/pvcmigrate-kind: dest}
spec:
  storageClassName: shared
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
}

# no_pods APP: no pod labelled app=APP exists.
no_pods() { [ -z "$(kubectl get pods -l app="$1" -o name)" ]; }

# pvmigrate_stop NAME: scale Deployment NAME to 0 recording its scale, as pvmigrate does.
pvmigrate_stop() {
	kubectl annotate deployment "$1" kurl.sh/pvcmigrate-scale=1 >/dev/null
	kubectl scale deployment "$1" --replicas=0 >/dev/null
	wait_for 60 "pods of $1 gone" no_pods "$1"
}

# Killed before its swap: volshift adopts the destination claim and the recorded scale.
test_pvmigrate_killed_before_its_swap() {
	local sum
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	sum=$(tree_sum "$(claim_dir web)")
	pvmigrate_dest web
	pvmigrate_stop web
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/out" 2>&1 || fail "migrate failed: $(tail -5 "$SIM_DIR/out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs"
	ready deployment web
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "scale of web"
	assert_eq "" "$(jp deployment web '{.metadata.annotations.kurl\.sh/pvcmigrate-scale}')" "scale annotation left"
	! kubectl get pvc web-pvcmigrate >/dev/null 2>&1 || fail "pvmigrate's destination claim is left"
}

# Killed in its swap after deleting both claims: the name comes back on the copy.
test_pvmigrate_killed_after_deleting_the_claims() {
	local sum old new
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	sum=$(tree_sum "$(claim_dir web)")
	old=$(jp pvc web '{.spec.volumeName}')
	pvmigrate_dest web
	pvmigrate_stop web
	wait_for 60 "web-pvcmigrate bound" field_is pvc web-pvcmigrate '{.status.phase}' Bound
	new=$(jp pvc web-pvcmigrate '{.spec.volumeName}')
	cp -a "$(claim_dir web)/." "$(claim_dir web-pvcmigrate)/"
	kubectl patch pv "$old" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' >/dev/null
	kubectl patch pv "$new" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"},"metadata":{"annotations":{"kurl.sh/pvcmigrate-sourcens":"default","kurl.sh/pvcmigrate-sourcepvc":"web","kurl.sh/pvcmigrate-reclaim":"Delete"}}}' >/dev/null
	kubectl delete pvc web web-pvcmigrate >/dev/null
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/out" 2>&1 || fail "migrate failed: $(tail -5 "$SIM_DIR/out")"
	grep -q "pvmigrate stopped after deleting claim default/web" "$SIM_DIR/out" || fail "not reported: $(head -5 "$SIM_DIR/out")"
	assert_eq "$new" "$(jp pvc web '{.spec.volumeName}')" "web is on pvmigrate's copy"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "phase of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs"
	assert_eq Delete "$(jp pv "$new" '{.spec.persistentVolumeReclaimPolicy}')" "reclaim policy of the copy"
	assert_eq "" "$(jp pv "$new" '{.metadata.annotations.kurl\.sh/pvcmigrate-sourcepvc}')" "pvmigrate's marks left"
	ready deployment web
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "scale of web"
	assert_eq Retain "$(jp pv "$old" '{.spec.persistentVolumeReclaimPolicy}')" "the original volume is kept"
	grep -q "PersistentVolume $old" "$SIM_DIR/out" || fail "the kept original volume is not listed"
}

e2e_main
