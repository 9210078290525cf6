#!/usr/bin/env bash
# End-to-end: volshift migrate with every kind of workload (StatefulSets with claim templates,
# DaemonSets, CronJobs), the flags that choose the claims (--namespace, --pvc, --selector), the
# destination access-mode annotation and pvmigrate's own command line. Every test compares the data
# of every claim before and after and checks every object involved.
. "$(dirname "$0")/migrate_lib.sh"

# What a claim was before the migration, by NS/NAME: its volume, the volume's directory, its data,
# its labels and the pods that mount it.
declare -A OLD_PV OLD_DIR OLD_SUM OLD_LABELS OLD_PODS

# pods_of NS CLAIM: "name uid phase" of every pod that mounts the claim, sorted.
pods_of() {
	kubectl get pods -n "$1" -o json | jq -r --arg c "$2" \
		'.items[] | select(any(.spec.volumes[]?; .persistentVolumeClaim.claimName == $c))
		 | "\(.metadata.name) \(.metadata.uid) \(.status.phase)"' | sort
}

# labels_of NS CLAIM: the claim's labels as sorted compact JSON.
labels_of() {
	kubectl get pvc "$2" -n "$1" -o json | jq -cS '.metadata.labels // {}'
}

# annotation KIND NAME KEY [NS]: one annotation (keys have dots and slashes, so jq rather than jsonpath).
annotation() {
	kubectl get "$1" "$2" -n "${4:-default}" -o json | jq -r --arg k "$3" '.metadata.annotations[$k] // ""'
}

# remember NS CLAIM: records the claim as it is now (see OLD_*).
remember() {
	local k=$1/$2
	OLD_PV[$k]=$(jp pvc "$2" '{.spec.volumeName}' "$1")
	[ -n "${OLD_PV[$k]}" ] || fail "$k has no volume"
	OLD_DIR[$k]=$(claim_dir "$2" "$1")
	[ -d "${OLD_DIR[$k]}" ] || fail "$k: volume directory '${OLD_DIR[$k]}' missing"
	OLD_SUM[$k]=$(tree_sum "${OLD_DIR[$k]}")
	OLD_LABELS[$k]=$(labels_of "$1" "$2")
	OLD_PODS[$k]=$(pods_of "$1" "$2")
}

# fill_claim NS CLAIM: fill_tree in the claim's volume, plus a file naming the claim so claims differ.
fill_claim() {
	local d
	d=$(claim_dir "$2" "$1")
	[ -n "$d" ] && [ -d "$d" ] || fail "$1/$2: no volume directory"
	fill_tree "$d"
	echo "$1/$2" >"$d/whoami"
}

same_data() {
	[ "$2" = "$3" ] || fail "$1: data differs: $(diff <(echo "$2") <(echo "$3") | head -20)"
}

# claim_moved NS CLAIM CLASS: the claim is Bound to a new volume of CLASS holding exactly the old
# data, with the same labels; the old volume and its directory are gone.
claim_moved() {
	local ns=$1 name=$2 class=$3 k=$1/$2 pv
	assert_eq "$class" "$(jp pvc "$name" '{.spec.storageClassName}' "$ns")" "$k class"
	assert_eq Bound "$(jp pvc "$name" '{.status.phase}' "$ns")" "$k phase"
	assert_eq "${OLD_LABELS[$k]}" "$(labels_of "$ns" "$name")" "$k labels"
	pv=$(jp pvc "$name" '{.spec.volumeName}' "$ns")
	[ -n "$pv" ] && [ "$pv" != "${OLD_PV[$k]}" ] || fail "$k: volume is '$pv', expected a new one (old: ${OLD_PV[$k]})"
	assert_eq "$class" "$(jp pv "$pv" '{.spec.storageClassName}')" "$k: class of its volume $pv"
	assert_eq Bound "$(jp pv "$pv" '{.status.phase}')" "$k: phase of its volume $pv"
	assert_eq "$ns/$name" "$(jp pv "$pv" '{.spec.claimRef.namespace}/{.spec.claimRef.name}')" "$k: claimRef of $pv"
	assert_eq Delete "$(jp pv "$pv" '{.spec.persistentVolumeReclaimPolicy}')" "$k: reclaim policy of $pv"
	! kubectl get pv "${OLD_PV[$k]}" >/dev/null 2>&1 || fail "$k: old volume ${OLD_PV[$k]} still exists"
	[ ! -e "${OLD_DIR[$k]}" ] || fail "$k: old volume's data ${OLD_DIR[$k]} was not reclaimed"
	same_data "$k" "${OLD_SUM[$k]}" "$(tree_sum "$(claim_dir "$name" "$ns")")"
}

# claim_untouched NS CLAIM CLASS: same class, same volume, same data, same labels, and the very
# same pods (name and uid), still running.
claim_untouched() {
	local ns=$1 name=$2 class=$3 k=$1/$2
	assert_eq "$class" "$(jp pvc "$name" '{.spec.storageClassName}' "$ns")" "$k class (must not move)"
	assert_eq Bound "$(jp pvc "$name" '{.status.phase}' "$ns")" "$k phase"
	assert_eq "${OLD_PV[$k]}" "$(jp pvc "$name" '{.spec.volumeName}' "$ns")" "$k volume (must not move)"
	assert_eq "$class" "$(jp pv "${OLD_PV[$k]}" '{.spec.storageClassName}')" "$k: class of its volume"
	assert_eq "${OLD_LABELS[$k]}" "$(labels_of "$ns" "$name")" "$k labels"
	same_data "$k" "${OLD_SUM[$k]}" "$(tree_sum "$(claim_dir "$name" "$ns")")"
	[ -n "${OLD_PODS[$k]}" ] || fail "$k: no pod mounted it before"
	assert_eq "${OLD_PODS[$k]}" "$(pods_of "$ns" "$name")" "$k: its pods (name uid phase) must not have been stopped"
}

# deployment_back NS NAME [REPLICAS]: ready with its scale, and no scale annotation left.
deployment_back() {
	local ns=$1 name=$2 want=${3:-1}
	ready deployment "$name" "$ns" 120
	assert_eq "$want" "$(jp deployment "$name" '{.spec.replicas}' "$ns")" "deployment $ns/$name replicas"
	assert_eq "$want" "$(jp deployment "$name" '{.status.readyReplicas}' "$ns")" "deployment $ns/$name ready replicas"
	assert_eq "" "$(annotation deployment "$name" kurl.sh/pvcmigrate-scale "$ns")" "deployment $ns/$name scale annotation removed"
}

# migrate OUT ARGS...: vs_migrate with its output in $SIM_DIR/OUT, shown if it fails.
migrate() {
	local out="$SIM_DIR/$1"
	shift
	vs_migrate "$@" >"$out" 2>&1 || fail "volshift migrate $* failed: $(cat "$out")"
}

# summary_says OUT N: the migration reported N claims moved.
summary_says() {
	local s=s
	[ "$2" = 1 ] && s=
	grep -q "Done: $2 claim$s moved" "$SIM_DIR/$1" || fail "no 'Done: $2 claim$s moved' in: $(cat "$SIM_DIR/$1")"
}

# sts_setup NAME: 3 replicas on local, one on each node, each claim filled and remembered.
sts_setup() {
	local name=$1 i nodes
	statefulset "$name" local 3
	ready statefulset "$name" default 180
	for i in 0 1 2; do
		wait_for 60 "claim data-$name-$i bound" field_is pvc "data-$name-$i" '{.status.phase}' Bound
		fill_claim default "data-$name-$i"
		remember default "data-$name-$i"
	done
	nodes=$(for i in 0 1 2; do pv_node "${OLD_PV[default/data-$name-$i]}"; done | sort -u | wc -l)
	assert_eq 3 "$nodes" "distinct nodes of the 3 node-local volumes"
}

# sts_claims_moved NAME: the 3 claims are on shared with their data, the StatefulSet is back with 3
# ready replicas that mount them, and nothing of the migration is left on it.
sts_claims_moved() {
	local name=$1 i
	for i in 0 1 2; do
		claim_moved default "data-$name-$i" shared
	done
	ready statefulset "$name" default 180
	assert_eq 3 "$(jp statefulset "$name" '{.spec.replicas}')" "statefulset replicas"
	assert_eq 3 "$(jp statefulset "$name" '{.status.readyReplicas}')" "statefulset ready replicas"
	assert_eq "" "$(annotation statefulset "$name" kurl.sh/pvcmigrate-scale)" "statefulset scale annotation removed"
	for i in 0 1 2; do
		assert_eq Running "$(jp pod "$name-$i" '{.status.phase}')" "pod $name-$i phase"
		assert_eq "data-$name-$i" "$(jp pod "$name-$i" '{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}')" "pod $name-$i claim"
	done
}

test_statefulset_claims_and_templates_move() {
	sts_setup db
	local uid
	uid=$(jp statefulset db '{.metadata.uid}')
	migrate sts.out --source-sc local --dest-sc shared
	sts_claims_moved db
	grep -q "recreated StatefulSet default/db" "$SIM_DIR/sts.out" || fail "no recreation reported: $(cat "$SIM_DIR/sts.out")"
	[ "$(jp statefulset db '{.metadata.uid}')" != "$uid" ] || fail "StatefulSet was not recreated (same uid $uid)"
	assert_eq shared "$(jp statefulset db '{.spec.volumeClaimTemplates[0].spec.storageClassName}')" "claim template class"
	assert_eq '{"tier":"db"}' "$(kubectl get sts db -o json | jq -cS '.spec.volumeClaimTemplates[0].metadata.labels')" "claim template labels"
	no_leftovers
	summary_says sts.out 3
	# a new replica gets its claim from the new template
	kubectl scale statefulset db --replicas=4 >/dev/null
	wait_for 120 "claim data-db-3 bound" field_is pvc data-db-3 '{.status.phase}' Bound
	assert_eq shared "$(jp pvc data-db-3 '{.spec.storageClassName}')" "class of the new replica's claim"
	assert_eq shared "$(jp pv "$(jp pvc data-db-3 '{.spec.volumeName}')" '{.spec.storageClassName}')" "class of the new replica's volume"
	ready statefulset db default 120
	assert_eq 4 "$(jp statefulset db '{.status.readyReplicas}')" "ready replicas after scaling to 4"
	for i in 0 1 2; do
		same_data "default/data-db-$i after scaling" "${OLD_SUM[default/data-db-$i]}" "$(tree_sum "$(claim_dir "data-db-$i")")"
	done
}

test_statefulset_kept_with_keep_statefulsets() {
	sts_setup keep
	local uid
	uid=$(jp statefulset keep '{.metadata.uid}')
	migrate keep.out --source-sc local --dest-sc shared --keep-statefulsets
	sts_claims_moved keep
	! grep -q "recreated StatefulSet" "$SIM_DIR/keep.out" || fail "StatefulSet recreated despite --keep-statefulsets: $(cat "$SIM_DIR/keep.out")"
	assert_eq "$uid" "$(jp statefulset keep '{.metadata.uid}')" "StatefulSet uid (kept)"
	assert_eq local "$(jp statefulset keep '{.spec.volumeClaimTemplates[0].spec.storageClassName}')" "claim template class (unchanged)"
	no_leftovers
	summary_says keep.out 3
}

test_namespace_flag_moves_only_that_namespace() {
	namespaces team-a team-b
	app a1 local team-a
	app a2 local team-a
	app b1 local team-b
	app d1 local
	local c
	for c in team-a/a1 team-a/a2 team-b/b1 default/d1; do
		ready deployment "${c#*/}" "${c%/*}" 120
		fill_claim "${c%/*}" "${c#*/}"
		remember "${c%/*}" "${c#*/}"
	done
	migrate ns.out --source-sc local --dest-sc shared --namespace team-a
	for c in team-a/a1 team-a/a2; do
		claim_moved "${c%/*}" "${c#*/}" shared
		deployment_back "${c%/*}" "${c#*/}"
	done
	for c in team-b/b1 default/d1; do
		claim_untouched "${c%/*}" "${c#*/}" local
		deployment_back "${c%/*}" "${c#*/}"
	done
	no_leftovers
	summary_says ns.out 2
}

test_destination_access_mode_annotation() {
	app rwx local
	app plain local
	kubectl patch pvc rwx --type=merge -p '{"metadata":{"annotations":{"kurl.sh/pvcmigrate-destinationaccessmode":"ReadWriteMany"}}}' >/dev/null
	local c
	for c in rwx plain; do
		ready deployment "$c"
		fill_claim default "$c"
		remember default "$c"
	done
	migrate modes.out --source-sc local --dest-sc shared
	for c in rwx plain; do
		claim_moved default "$c" shared
		deployment_back default "$c"
	done
	assert_eq ReadWriteMany "$(jp pvc rwx '{.spec.accessModes[*]}')" "access modes of the annotated claim"
	assert_eq ReadWriteMany "$(jp pv "$(jp pvc rwx '{.spec.volumeName}')" '{.spec.accessModes[*]}')" "access modes of its volume"
	assert_eq ReadWriteMany "$(annotation pvc rwx kurl.sh/pvcmigrate-destinationaccessmode)" "annotation kept on the claim"
	assert_eq ReadWriteOnce "$(jp pvc plain '{.spec.accessModes[*]}')" "access modes of the other claim"
	no_leftovers
	summary_says modes.out 2
}

test_pvc_flag_moves_only_listed_claims() {
	namespaces other
	app a local
	app b local
	app c local
	app d local other
	local k
	for k in default/a default/b default/c other/d; do
		ready deployment "${k#*/}" "${k%/*}" 120
		fill_claim "${k%/*}" "${k#*/}"
		remember "${k%/*}" "${k#*/}"
	done
	migrate pvc.out --source-sc local --dest-sc shared --pvc default/a --pvc other/d
	for k in default/a other/d; do
		claim_moved "${k%/*}" "${k#*/}" shared
		deployment_back "${k%/*}" "${k#*/}"
	done
	for k in default/b default/c; do
		claim_untouched "${k%/*}" "${k#*/}" local
		deployment_back "${k%/*}" "${k#*/}"
	done
	no_leftovers
	summary_says pvc.out 2
}

test_selector_moves_only_matching_claims() {
	namespaces other
	app a local
	app b local
	app c local other
	kubectl label pvc a tier=gold >/dev/null
	kubectl label pvc c -n other tier=gold >/dev/null
	kubectl label pvc b tier=bronze >/dev/null
	local k
	for k in default/a default/b other/c; do
		ready deployment "${k#*/}" "${k%/*}" 120
		fill_claim "${k%/*}" "${k#*/}"
		remember "${k%/*}" "${k#*/}"
	done
	migrate sel.out --source-sc local --dest-sc shared --selector tier=gold
	for k in default/a other/c; do
		claim_moved "${k%/*}" "${k#*/}" shared
		deployment_back "${k%/*}" "${k#*/}"
	done
	claim_untouched default b local
	deployment_back default b
	no_leftovers
	summary_says sel.out 2
}

test_pvmigrate_command_line() {
	ln -s "$BIN/volshift" "$SIM_DIR/pvmigrate"
	app web local
	ready deployment web
	fill_claim default web
	remember default web
	local rc=0
	"$SIM_DIR/pvmigrate" -source-sc local -dest-sc shared -no-such-flag </dev/null >"$SIM_DIR/bad.out" 2>&1 || rc=$?
	assert_eq 2 "$rc" "exit status for an unknown flag ($(cat "$SIM_DIR/bad.out"))"
	claim_untouched default web local
	rc=0
	"$SIM_DIR/pvmigrate" -source-sc local -dest-sc shared -set-defaults=false -pod-ready-timeout 60 \
		</dev/null >"$SIM_DIR/pvmigrate.out" 2>&1 || rc=$?
	assert_eq 0 "$rc" "pvmigrate exit status ($(cat "$SIM_DIR/pvmigrate.out"))"
	claim_moved default web shared
	deployment_back default web
	assert_eq true "$(annotation storageclass local storageclass.kubernetes.io/is-default-class)" "local still the default (-set-defaults=false)"
	assert_eq "" "$(annotation storageclass shared storageclass.kubernetes.io/is-default-class)" "shared not made the default"
	no_leftovers
	summary_says pvmigrate.out 1
}

# watch_to FILE KIND NAME TEMPLATE: kubectl get -w in the background, one line per version of the
# object; WATCH_PID is set and the first line (the current state) is awaited.
watch_to() {
	kubectl get "$2" "$3" -w -o "jsonpath=$4{\"\\n\"}" >"$1" 2>"$1.err" &
	WATCH_PID=$!
	wait_for 60 "the watch of $2 $3 to start" test -s "$1"
}

test_daemonset_stopped_and_restored() {
	claim agent local
	kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-2}
      containers:
      - name: agent
        image: busybox
        command: [/bin/sh, -c, 'exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: agent}}]
YAML
	ready daemonset agent default 120
	wait_for 60 "claim agent bound" field_is pvc agent '{.status.phase}' Bound
	fill_claim default agent
	remember default agent
	assert_eq node-2 "$(pv_node "${OLD_PV[default/agent]}")" "node of the source volume"
	local sel='{"kubernetes.io/hostname":"node-2"}' pods_before
	pods_before=${OLD_PODS[default/agent]}
	watch_to "$SIM_DIR/ds.watch" daemonset agent '{.spec.template.spec.nodeSelector}'
	migrate ds.out --source-sc local --dest-sc shared
	claim_moved default agent shared
	grep -q "stopped DaemonSet default/agent" "$SIM_DIR/ds.out" || fail "DaemonSet not stopped: $(cat "$SIM_DIR/ds.out")"
	ready daemonset agent default 120
	assert_eq "$sel" "$(kubectl get ds agent -o json | jq -cS '.spec.template.spec.nodeSelector')" "nodeSelector restored"
	assert_eq "" "$(annotation daemonset agent volshift.io/original-node-selector)" "node-selector annotation removed"
	assert_eq 1 "$(jp daemonset agent '{.status.desiredNumberScheduled}')" "desired pods"
	assert_eq 1 "$(jp daemonset agent '{.status.numberReady}')" "ready pods"
	local now
	now=$(pods_of default agent)
	assert_eq 1 "$(echo "$now" | wc -l)" "one pod mounts the claim: $now"
	[ "${now% *}" != "${pods_before% *}" ] || fail "the DaemonSet's pod was never stopped: $now"
	assert_eq Running "${now##* }" "phase of the DaemonSet's pod"
	assert_eq node-2 "$(jp pod "${now%% *}" '{.spec.nodeName}')" "node of the DaemonSet's pod"
	# while it was switched, the DaemonSet matched no node
	wait_for 60 "the watch to see the restored nodeSelector" sh -c "tail -n1 '$SIM_DIR/ds.watch' | grep -qxF '$sel'"
	kill "$WATCH_PID" 2>/dev/null || true
	grep -q 'volshift.io/stopped-for-migration' "$SIM_DIR/ds.watch" ||
		fail "the DaemonSet was never given the stop node selector; versions seen: $(cat "$SIM_DIR/ds.watch")"
	no_leftovers
	summary_says ds.out 1
}

# new_job_succeeded "JOB..." : a Job not in the list has succeeded.
new_job_succeeded() {
	kubectl get jobs -o json | jq -e --arg old " $1 " \
		'[.items[] | .metadata.name as $n | select($old | contains(" " + $n + " ") | not) | select(.status.succeeded == 1)] | length > 0'
}

test_cronjob_suspended_and_restored() {
	claim reports local
	kubectl apply -f - <<YAML
apiVersion: batch/v1
kind: CronJob
metadata: {name: reports}
spec:
  schedule: '* * * * *'
  suspend: false
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: reports}}
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: busybox
            command: [/bin/sh, -c, 'ls -la /data']
            volumeMounts: [{name: data, mountPath: /data}]
          volumes: [{name: data, persistentVolumeClaim: {claimName: reports}}]
YAML
	# the first Job runs at the next minute and binds the node-local claim
	wait_for 150 "claim reports bound by the first Job" field_is pvc reports '{.status.phase}' Bound
	wait_for 90 "a Job of the CronJob to succeed" sh -c "kubectl get jobs -o jsonpath='{.items[*].status.succeeded}' | grep -q 1"
	fill_claim default reports
	remember default reports
	watch_to "$SIM_DIR/cj.watch" cronjob reports '{.spec.suspend} {.metadata.annotations}'
	migrate cj.out --source-sc local --dest-sc shared
	claim_moved default reports shared
	local jobs_before
	jobs_before=$(kubectl get jobs -o jsonpath='{.items[*].metadata.name}')
	grep -q "stopped CronJob default/reports" "$SIM_DIR/cj.out" || fail "CronJob not suspended: $(cat "$SIM_DIR/cj.out")"
	assert_eq false "$(jp cronjob reports '{.spec.suspend}')" "spec.suspend restored"
	assert_eq "" "$(annotation cronjob reports volshift.io/original-suspend)" "suspend annotation removed"
	wait_for 60 "the watch to see the CronJob resumed" sh -c "tail -n1 '$SIM_DIR/cj.watch' | grep -q '^false'"
	kill "$WATCH_PID" 2>/dev/null || true
	grep -q '^true .*volshift.io/original-suspend' "$SIM_DIR/cj.watch" ||
		fail "the CronJob was never suspended; versions seen: $(cat "$SIM_DIR/cj.watch")"
	# it runs again, on the migrated claim
	wait_for 150 "a Job started after the migration to succeed" new_job_succeeded "$jobs_before"
	same_data "default/reports after a new run" "${OLD_SUM[default/reports]}" "$(tree_sum "$(claim_dir reports)")"
	no_leftovers
	summary_says cj.out 1
}

e2e_main
