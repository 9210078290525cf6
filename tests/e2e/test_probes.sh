#!/usr/bin/env bash
# End-to-end: the access-mode probes of a volshift killed while it probed (src/migrate/probe.c).
# volshift is killed at each failpoint of a probe (after its Lease, its claim, its running pod, and
# in its clean-up after the pod, the claim and the volume are gone); `volshift status` must then
# list what it left, and the next migrate, resume or rollback must remove all of it (the volume of
# a Retain class included) and finish with every file intact. Also: a volshift killed while it
# removes another's leftovers; a second volshift must leave the probe of a running one alone (held
# inside its probe by a sleep failpoint); a probe of "another machine" is left alone while its
# Lease is renewed and removed once it is not; objects named like probes but not labelled as
# theirs are never deleted.
#
# PROBE_POINTS (space-separated failpoints) and PROBE_AFTER (space-separated: migrate resume
# rollback) choose the crash tests: every point followed by every command. Without either, the
# short run of `make test`; `make faults` passes every point, then again with PROBE_API_FAULTS=RATE:
# the command that follows the crash runs under volshift-sim's API faults (api_faults_on RATE; off
# before the checks, the counters printed).
. "$(dirname "$0")/migrate_lib.sh"

# retained_class: class 'retained', as 'shared' but with reclaim policy Retain: a probe's volume
# must then be deleted explicitly.
retained_class() {
	storage_class retained volshift-sim/shared Retain Immediate
}

# listed_by_status: `volshift status` (text and JSON) lists every probe probe_objects finds, by name.
listed_by_status() {
	local names name
	"$BIN/volshift" status >"$SIM_DIR/status.out" 2>&1 || fail "status failed: $(cat "$SIM_DIR/status.out")"
	"$BIN/volshift" status --output json >"$SIM_DIR/status.json" 2>&1 || fail "status --output json failed"
	names=$(probe_objects | awk '$1 != "PersistentVolume" {print $2}' | sort -u)
	[ -n "$names" ] || fail "no probe objects to list"
	for name in $names; do
		grep -q "$name" "$SIM_DIR/status.out" || fail "status does not list $name: $(cat "$SIM_DIR/status.out")"
		jq -e --arg n "${name#*/}" 'select(.event == "probe-leftover" and .name == $n)' "$SIM_DIR/status.json" >/dev/null ||
			fail "status --output json does not list $name: $(cat "$SIM_DIR/status.json")"
	done
	grep -q "kubectl delete lease -n ${name%/*} ${name#*/}" "$SIM_DIR/status.out" || fail "status does not say how to remove $name"
	probe_objects | awk '$1 == "PersistentVolume" {print $2}' | while read -r pv; do
		grep -q "$pv" "$SIM_DIR/status.out" || fail "status does not list volume $pv: $(cat "$SIM_DIR/status.out")"
	done
}

# killed_in_probe POINT [FLAGS...]: volshift migrate local -> retained (FLAGS added), killed at POINT.
killed_in_probe() {
	local point=$1 rc=0
	shift
	VOLSHIFT_FAILPOINTS="$point=crash" vs_migrate --source-sc local --dest-sc retained "$@" >"$SIM_DIR/killed.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "volshift should have been killed at $point: $(tail -3 "$SIM_DIR/killed.out")"
}

# after_cmd CMD ID OUT: the follow-up command (migrate, resume ID or rollback ID) into $SIM_DIR/OUT.
after_cmd() {
	case $1 in
	migrate) vs_migrate --source-sc local --dest-sc retained ;;
	resume) "$BIN/volshift" resume "$2" ;;
	rollback) "$BIN/volshift" rollback "$2" ;;
	esac >"$SIM_DIR/$3" 2>&1
}

# crash_in_probe_then POINT CMD: a filled Deployment; for resume and rollback, a migration killed
# before its copy first (a journal to resume), then a preflight killed at POINT; for migrate, the
# migration killed at POINT. CMD must remove every probe object and finish (or undo) the migration.
crash_in_probe_then() {
	local point=$1 cmd=$2 sum id="" class=retained rc=0
	sum=$(filled_app web)
	retained_class
	if [ "$cmd" != migrate ]; then
		VOLSHIFT_FAILPOINTS=copy:before=crash vs_migrate --source-sc local --dest-sc retained >"$SIM_DIR/first.out" 2>&1 || rc=$?
		assert_eq 86 "$rc" "the migration to $cmd should have been killed: $(tail -3 "$SIM_DIR/first.out")"
		id=$("$BIN/volshift" status --output json | jq -r 'select(.id) | .id' | head -n1)
		killed_in_probe "$point" --preflight-validation-only
	else
		killed_in_probe "$point"
	fi
	[ -n "$(probe_objects)" ] || fail "nothing left behind at $point"
	listed_by_status
	[ -z "${PROBE_API_FAULTS:-}" ] || api_faults_on "$PROBE_API_FAULTS"
	after_cmd "$cmd" "$id" after.out || fail "$cmd failed: $(tail -5 "$SIM_DIR/after.out")"
	[ -z "${PROBE_API_FAULTS:-}" ] || api_faults_off
	grep -q "removed access-mode probe default/volshift-probe-" "$SIM_DIR/after.out" ||
		fail "$cmd did not say it removed the probe: $(head -5 "$SIM_DIR/after.out")"
	[ "$cmd" != rollback ] || class=local
	assert_eq "$class" "$(jp pvc web '{.spec.storageClassName}')" "class of web after $cmd"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "phase of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after $cmd"
	ready deployment web
	no_leftovers
}

add_crash_test() {
	eval "test_${2}_removes_a_probe_killed_at_${1//[:-]/_}() { crash_in_probe_then $1 $2; }"
}

if [ -z "${PROBE_POINTS:-}${PROBE_AFTER:-}" ]; then
	add_crash_test probe:pod-running migrate
	add_crash_test probe:claim-deleted migrate
	add_crash_test probe:claim-created resume
	add_crash_test probe:volume-removed rollback
else
	for point in ${PROBE_POINTS:-probe:pod-running}; do
		for after in ${PROBE_AFTER:-migrate resume rollback}; do
			add_crash_test "$point" "$after"
		done
	done
fi

# A volshift killed while it removes another's leftovers (its Lease taken over) leaves them to the
# next one, which finishes.
test_a_removal_killed_half_way_is_finished_by_the_next_run() {
	local sum rc=0
	sum=$(filled_app web)
	retained_class
	killed_in_probe probe:pod-running
	VOLSHIFT_FAILPOINTS=probe:claim-deleted=crash vs_migrate --source-sc local --dest-sc retained >"$SIM_DIR/second.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "the second volshift should have been killed while removing: $(tail -3 "$SIM_DIR/second.out")"
	listed_by_status
	grep -q "volshift pid" "$SIM_DIR/status.out" || fail "status does not name the holder"
	vs_migrate --source-sc local --dest-sc retained >"$SIM_DIR/third.out" 2>&1 || fail "third run failed: $(tail -5 "$SIM_DIR/third.out")"
	grep -q "removed access-mode probe" "$SIM_DIR/third.out" || fail "third run did not remove the probe"
	assert_eq retained "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs"
	no_leftovers
}

# A second volshift, started while the first is inside its probe (held there by a sleep
# failpoint), leaves the first one's probe alone, and status does not list it as left behind; once
# the first is killed, the next run removes it.
test_a_second_volshift_leaves_a_running_probe_alone() {
	local first claim_uid pod_uid name
	namespaces b
	app web local >/dev/null
	app web local b >/dev/null
	ready deployment web
	ready deployment web b
	VOLSHIFT_FAILPOINTS=probe:pod-running=sleep:600000 "$BIN/volshift" migrate --yes --source-sc local --dest-sc shared \
		--namespace default >"$SIM_DIR/first.out" 2>&1 &
	first=$! # volshift itself: a simple command in the background is its own process
	trap 'kill -KILL $first 2>/dev/null' EXIT
	wait_for 120 "the first volshift's probe pod to run" probe_pod_running
	name=$(probe_pod_name)
	claim_uid=$(jp pvc "$name" '{.metadata.uid}')
	pod_uid=$(jp pod "$name" '{.metadata.uid}')
	vs_migrate --source-sc local --dest-sc shared --namespace b >"$SIM_DIR/second.out" 2>&1 ||
		fail "second volshift failed: $(tail -5 "$SIM_DIR/second.out")"
	grep -q "access-mode probe default/$name left alone: .*still runs on this machine" "$SIM_DIR/second.out" ||
		fail "the second volshift does not say it left the probe alone: $(head -5 "$SIM_DIR/second.out")"
	assert_eq "$claim_uid" "$(jp pvc "$name" '{.metadata.uid}')" "the first volshift's probe claim"
	assert_eq "$pod_uid" "$(jp pod "$name" '{.metadata.uid}')" "the first volshift's probe pod"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}' b)" "the second volshift migrated b/web"
	"$BIN/volshift" status >"$SIM_DIR/status.out" 2>&1
	"$BIN/volshift" status --output json >"$SIM_DIR/status.json" 2>&1
	! grep -q "$name" "$SIM_DIR/status.out" "$SIM_DIR/status.json" || fail "status lists a running probe as left behind: $(cat "$SIM_DIR/status.out")"
	kill -KILL "$first"
	wait "$first" 2>/dev/null || true
	trap - EXIT
	vs_migrate --source-sc local --dest-sc shared --namespace default >"$SIM_DIR/third.out" 2>&1 ||
		fail "third run failed: $(tail -5 "$SIM_DIR/third.out")"
	grep -q "removed access-mode probe default/$name" "$SIM_DIR/third.out" || fail "the probe of the killed volshift was not removed"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "default/web migrated"
	no_leftovers
}

# A volshift whose probe was taken over (as when it could not renew its Lease in time and another
# judged it gone) does not count that probe's result: it probes again and goes on. The probe it
# lost is the taker's; once that volshift has ended, the next run removes it.
test_a_probe_taken_over_is_probed_again_not_judged() {
	local first name rc=0
	app web local >/dev/null
	ready deployment web
	VOLSHIFT_FAILPOINTS=probe:pod-running=sleep:20000@1 "$BIN/volshift" migrate --yes --source-sc local --dest-sc shared \
		>"$SIM_DIR/first.out" 2>&1 &
	first=$!
	trap 'kill -KILL $first 2>/dev/null' EXIT
	wait_for 120 "the probe pod to run" probe_pod_running
	name=$(probe_pod_name)
	kubectl patch lease "$name" --type=merge -p '{"spec":{"holderIdentity":"taker"},"metadata":{"annotations":{"volshift.io/probe-holder":"the taker"}}}' >/dev/null
	wait "$first" || rc=$?
	trap - EXIT
	assert_eq 0 "$rc" "the migration after a probe taken over: $(tail -5 "$SIM_DIR/first.out")"
	grep -q "access-mode probe default/$name was taken over by the taker.*trying again" "$SIM_DIR/first.out" ||
		fail "no word of the probe taken over: $(head -8 "$SIM_DIR/first.out")"
	grep -q "access modes ReadWriteOnce: ok" "$SIM_DIR/first.out" || fail "the probe was not run again"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web migrated"
	assert_eq "$name" "$(kubectl get pvc "$name" -o name 2>/dev/null | sed 's|.*/||')" "the lost probe's claim, the taker's to remove"
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/next.out" 2>&1 || fail "next run failed: $(tail -5 "$SIM_DIR/next.out")"
	grep -q "removed access-mode probe default/$name" "$SIM_DIR/next.out" || fail "the lost probe was not removed: $(head -5 "$SIM_DIR/next.out")"
	no_leftovers
}

# probe_pod_name: the name of the probe pod in namespace default (empty when there is none).
probe_pod_name() {
	kubectl get pods -l volshift.io/probe -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null
}

# probe_pod_running: there is a probe pod in namespace default, and it runs.
probe_pod_running() {
	local name
	name=$(probe_pod_name)
	[ -n "$name" ] && field_is pod "$name" '{.status.phase}' Running
}

# foreign_probe NAME SECONDS: a probe claim, pod and Lease as a volshift on another machine leaves
# them (its process identity names another boot), its Lease lasting SECONDS.
foreign_probe() {
	local labels="{app.kubernetes.io/managed-by: volshift, volshift.io/probe: $1, volshift.io/probe-owner: f0f0f0f0f0f0f0f0}"
	kubectl apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: $1
  labels: $labels
  annotations:
    volshift.io/probe-holder: volshift pid 4242 on elsewhere
    volshift.io/probe-process: 00000000-0000-0000-0000-000000000000/4026531836/4242/1
spec: {holderIdentity: f0f0f0f0f0f0f0f0, leaseDurationSeconds: $2, renewTime: "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1, labels: $labels}
spec:
  storageClassName: retained
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: $labels}
spec:
  restartPolicy: Never
  containers:
  - {name: probe, image: busybox, command: [sleep, "3600"], volumeMounts: [{name: probe, mountPath: /probe}]}
  volumes: [{name: probe, persistentVolumeClaim: {claimName: $1}}]
YAML
	wait_for 60 "the foreign probe's pod to run" field_is pod "$1" '{.status.phase}' Running
}

# renew_lease NAME: renews Lease NAME every half second, in the background, until stop_renewing.
renew_lease() {
	rm -f "$SIM_DIR/stop-renewing"
	while [ ! -e "$SIM_DIR/stop-renewing" ]; do
		kubectl patch lease "$1" --type=merge -p "{\"spec\":{\"renewTime\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null 2>&1
		sleep 0.5
	done &
	RENEWER=$!
	trap stop_renewing EXIT
}

# stop_renewing: the renewals of renew_lease end (the last one has landed when this returns).
stop_renewing() {
	touch "$SIM_DIR/stop-renewing"
	wait "$RENEWER" 2>/dev/null || true
	trap - EXIT
}

# A probe of another machine is judged by its Lease alone: kept while it is renewed, removed (its
# Retain volume too) once it has not been for its duration.
test_a_probe_elsewhere_is_kept_while_its_lease_is_renewed_and_removed_after() {
	local uid
	app web local >/dev/null
	ready deployment web
	retained_class
	foreign_probe volshift-probe-0000f00d 8
	uid=$(jp pvc volshift-probe-0000f00d '{.metadata.uid}')
	renew_lease volshift-probe-0000f00d
	"$BIN/volshift" status >"$SIM_DIR/status.out" 2>&1
	grep -Eq "default/volshift-probe-0000f00d .* unknown .*volshift pid 4242 on elsewhere" "$SIM_DIR/status.out" ||
		fail "status does not show the foreign probe as unknown: $(cat "$SIM_DIR/status.out")"
	vs_migrate --source-sc local --dest-sc shared --preflight-validation-only >"$SIM_DIR/kept.out" 2>&1 ||
		fail "preflight failed: $(tail -5 "$SIM_DIR/kept.out")"
	grep -q "volshift-probe-0000f00d left alone: its Lease was renewed" "$SIM_DIR/kept.out" ||
		fail "the renewed probe was not left alone: $(head -5 "$SIM_DIR/kept.out")"
	assert_eq "$uid" "$(jp pvc volshift-probe-0000f00d '{.metadata.uid}')" "the foreign probe's claim"
	stop_renewing
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/removed.out" 2>&1 || fail "migrate failed: $(tail -5 "$SIM_DIR/removed.out")"
	grep -q "waiting up to .* s for it to renew its Lease" "$SIM_DIR/removed.out" || fail "no wait on the Lease: $(head -5 "$SIM_DIR/removed.out")"
	grep -q "removed access-mode probe default/volshift-probe-0000f00d" "$SIM_DIR/removed.out" ||
		fail "the unrenewed probe was not removed: $(head -8 "$SIM_DIR/removed.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web migrated"
	no_leftovers
}

# Only labels make an object a probe's: a claim named like a probe but not labelled as one stays,
# even when the Lease of a gone probe of that name is taken over; a probe made before the labels
# (legacy) is named, with the commands, and left alone.
test_objects_named_like_probes_but_not_labelled_are_left_alone() {
	local dead ctx
	app web local >/dev/null
	ready deployment web
	sleep 0 &
	dead=$!
	wait "$dead"
	ctx="$(cat /proc/sys/kernel/random/boot_id)/$(readlink /proc/self/ns/pid | tr -dc 0-9)"
	kubectl apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: volshift-probe-0000cafe
  labels: {app.kubernetes.io/managed-by: volshift, volshift.io/probe: volshift-probe-0000cafe}
  annotations: {volshift.io/probe-process: $ctx/$dead/1}
spec: {holderIdentity: gone, leaseDurationSeconds: 30}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: volshift-probe-0000cafe}
spec: {storageClassName: shared, accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: volshift-probe-0000dead, labels: {app.kubernetes.io/managed-by: volshift}}
spec: {storageClassName: shared, accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
YAML
	"$BIN/volshift" status >"$SIM_DIR/status.out" 2>&1
	grep -Eq "default/volshift-probe-0000dead .* legacy " "$SIM_DIR/status.out" || fail "status does not list the legacy probe: $(cat "$SIM_DIR/status.out")"
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/migrate.out" 2>&1 || fail "migrate failed: $(tail -5 "$SIM_DIR/migrate.out")"
	grep -q "persistentvolumeclaims default/volshift-probe-0000cafe is not labelled volshift.io/probe=volshift-probe-0000cafe" \
		"$SIM_DIR/migrate.out" || fail "the unlabelled claim was not named: $(head -8 "$SIM_DIR/migrate.out")"
	grep -q "volshift-probe-0000dead was left by a volshift older than the probe labels.*kubectl delete pvc -n default volshift-probe-0000dead" \
		"$SIM_DIR/migrate.out" || fail "the legacy probe was not named with its command: $(head -8 "$SIM_DIR/migrate.out")"
	assert_eq Bound "$(jp pvc volshift-probe-0000cafe '{.status.phase}')" "the unlabelled claim"
	assert_eq Bound "$(jp pvc volshift-probe-0000dead '{.status.phase}')" "the legacy claim"
	assert_eq "" "$(kubectl get lease volshift-probe-0000cafe -o name 2>/dev/null)" "the gone probe's Lease"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web migrated"
}

e2e_main
