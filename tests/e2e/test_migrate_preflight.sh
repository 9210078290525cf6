#!/usr/bin/env bash
# End-to-end: everything volshift migrate must refuse or check before it changes anything, the
# runs that must leave the cluster exactly as it was, and a copy that fails half-way.
. "$(dirname "$0")/migrate_lib.sh"

# ---- helpers ----------------------------------------------------------------------------------

DEFAULT_ANN='{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}'

# run NAME ARGS...: vs_migrate ARGS with stdout in $SIM_DIR/NAME.out and stderr in NAME.err; the
# exit status in RC. Never fails by itself.
run() {
	local name=$1
	shift
	RC=0
	vs_migrate "$@" >"$SIM_DIR/$name.out" 2>"$SIM_DIR/$name.err" || RC=$?
}

# show NAME: what a run printed, for failure messages.
show() {
	echo "--- stdout of $1:"
	cat "$SIM_DIR/$1.out"
	echo "--- stderr of $1:"
	cat "$SIM_DIR/$1.err"
}

# expect_rc CODE NAME
expect_rc() {
	[ "$RC" = "$1" ] || fail "$2: exit status $RC, expected $1
$(show "$2")"
}

# says NAME REGEX [WHAT]: the run's stdout or stderr has a line matching the extended REGEX.
says() {
	cat "$SIM_DIR/$1.out" "$SIM_DIR/$1.err" | grep -Eq -- "$2" || fail "$1: ${3:-no line matching '$2'}
$(show "$1")"
}

# two_apps: web (local, RWO) and files (shared, RWX), both running, with data.
two_apps() {
	app web local
	app files shared default 10Mi ReadWriteMany
	ready deployment web
	ready deployment files
	fill_tree "$(claim_dir web)"
}

no_volume_of_class() {
	[ -z "$(kubectl get pv -o json | jq -r --arg c "$1" '.items[] | select(.spec.storageClassName == $c) | .metadata.name')" ]
}

is_default() {
	[ "$(jp sc "$1" "$DEFAULT_ANN")" = true ]
}

# bare_pod NAME CLAIM: a pod with no controller that mounts CLAIM at /data.
bare_pod() {
	kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  containers:
  - name: app
    image: busybox
    command: [/bin/sh, -c, 'echo "\$HOSTNAME" > /data/bare; exec sleep 3600']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: $2}}]
YAML
}

# ---- the baseline: cluster_state does not move by itself ----------------------------------------

test_cluster_state_is_stable_when_idle() {
	two_apps
	app other local
	ready deployment other
	local first now
	wait_for 90 "the cluster to settle" state_settled
	first=$(cluster_state)
	for _ in 1 2 3 4 5; do
		sleep 2
		now=$(cluster_state)
		[ "$first" = "$now" ] || fail "cluster_state changed on an idle cluster:
$(diff <(echo "$first") <(echo "$now") | head -40)"
	done
}

# ---- 1. classes -------------------------------------------------------------------------------

test_missing_destination_class() {
	two_apps
	snapshot before
	run nosuch --source-sc local --dest-sc nosuch
	expect_rc 1 nosuch
	says nosuch 'Cannot migrate' "no problem table"
	says nosuch 'destination StorageClass "nosuch" does not exist' "the problem does not name the class"
	unchanged before "a migration to a missing class"
	no_leftovers
}

# ---- 2. access modes --------------------------------------------------------------------------

test_unsupported_access_mode_is_probed() {
	two_apps
	snapshot before
	# local cannot provide ReadWriteMany: the probe pod never starts, so the probe takes the timeout.
	run rwx --source-sc shared --dest-sc local --pod-ready-timeout 20
	expect_rc 1 rwx
	says rwx 'probing access modes ReadWriteMany on class local' "no access-mode probe"
	says rwx 'access modes ReadWriteMany: .*did not start' "the probe did not fail"
	says rwx '^ +default +files +destination class local cannot provide access modes ReadWriteMany' \
		"the problem table does not name the claim"
	unchanged before "a failed access-mode probe"
	no_leftovers
	assert_eq "" "$(kubectl get pvc,pods -A -o name | grep volshift-probe || true)" "probe objects left"
	assert_eq "" "$(kubectl get pv -o json | jq -r '.items[] | select(.spec.claimRef.name // "" | startswith("volshift-probe")) | .metadata.name')" \
		"probe volumes left"
}

# ---- 3. --set-defaults ------------------------------------------------------------------------

test_set_defaults_from_the_source() {
	app web local
	ready deployment web
	run setdef --source-sc local --dest-sc shared --set-defaults
	expect_rc 0 setdef
	says setdef 'default StorageClass is now shared' "no default-class line"
	is_default shared || fail "shared is not the default: $(kubectl get sc)"
	! is_default local || fail "local is still a default: $(kubectl get sc)"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	ready deployment web
	no_leftovers
}

test_set_defaults_refused_when_another_class_is_default() {
	kubectl apply -f - <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: other
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: volshift-sim/shared
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
	kubectl annotate sc local storageclass.kubernetes.io/is-default-class-
	app web local
	ready deployment web
	is_default other || fail "other is not the default: $(kubectl get sc)"
	! is_default local || fail "local is still a default: $(kubectl get sc)"
	snapshot before
	run other --source-sc local --dest-sc shared --set-defaults
	expect_rc 1 other
	says other '--set-defaults.*the default is "other"' "the refusal does not explain the default class"
	! grep -q 'probing access modes' "$SIM_DIR/other.out" || fail "probed although the plan was refused
$(show other)"
	unchanged before "a refused --set-defaults"
	no_leftovers
}

test_set_defaults_when_there_is_no_default() {
	kubectl annotate sc local storageclass.kubernetes.io/is-default-class-
	! is_default local || fail "local is still a default: $(kubectl get sc)"
	app web local
	ready deployment web
	run nodef --source-sc local --dest-sc shared --set-defaults
	expect_rc 0 nodef
	is_default shared || fail "shared is not the default: $(kubectl get sc -o yaml)"
	! is_default local || fail "local became a default: $(kubectl get sc -o yaml)"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	no_leftovers
}

# ---- 4. runs that only look -------------------------------------------------------------------

test_preflight_validation_only_changes_nothing() {
	two_apps
	app db local
	ready deployment db
	snapshot before
	run pfonly --source-sc local --dest-sc shared --preflight-validation-only
	expect_rc 0 pfonly
	says pfonly 'access modes ReadWriteOnce: ok' "no successful probe"
	says pfonly 'Preflight validation passed' "does not say it passed"
	unchanged before "--preflight-validation-only"
	no_leftovers
}

test_dry_run_prints_the_plan_and_changes_nothing() {
	two_apps
	app db local
	ready deployment db
	snapshot before
	run dry --source-sc local --dest-sc shared --dry-run
	expect_rc 0 dry
	says dry '^Plan: move 2 claims from class local to shared' "no plan header"
	says dry '^ +default +web +pvc-' "claim web is not in the plan"
	says dry '^ +default +db +pvc-' "claim db is not in the plan"
	! grep -Eq '^ +default +files ' "$SIM_DIR/dry.out" || fail "claim files (class shared) is in the plan
$(show dry)"
	says dry 'Dry run: nothing was changed' "no dry-run notice"
	says dry 'free-space check skipped: class shared \(provisioner volshift-sim/shared\) publishes no CSIStorageCapacity and names no directory' \
		"no line saying why the free space was not checked"
	run dryjson --source-sc local --dest-sc shared --dry-run --output json
	expect_rc 0 dryjson
	assert_eq "db web" "$(jq -r 'select(.event == "plan") | .plan.groups[].claims[].name' "$SIM_DIR/dryjson.out" | sort | xargs)" \
		"claims of the JSON plan"
	unchanged before "--dry-run"
	no_leftovers
}

# A migration's journal keeps each claim as listed: six claims with 200 KB of annotations each, more
# than one ConfigMap holds (1 MiB), migrate as one migration, its journal spread over ConfigMaps that
# each stay under 1 MiB (the head and its record shards, all labelled with the migration).
test_a_journal_larger_than_a_configmap_is_one_migration() {
	local i blob id sizes
	blob=$(head -c 100000 /dev/zero | tr '\0' x)
	for i in 1 2 3 4 5 6; do
		app "big$i" local
		kubectl annotate pvc "big$i" "example.com/a=$blob" "example.com/b=$blob" >/dev/null
	done
	for i in 1 2 3 4 5 6; do ready deployment "big$i"; done
	run big --source-sc local --dest-sc shared --yes
	expect_rc 0 big
	for i in 1 2 3 4 5 6; do
		assert_eq shared "$(jp pvc "big$i" '{.spec.storageClassName}')" "class of big$i"
	done
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	sizes=$(kubectl get configmaps -n volshift-system -l "volshift.io/migration=$id" -o json |
		jq '[.items[] | .data // {} | to_entries | map((.key | utf8bytelength) + (.value | utf8bytelength)) | add // 0]')
	[ "$(jq add <<<"$sizes")" -gt 1048576 ] || fail "the journal holds less than 1 MiB: $sizes"
	[ "$(jq max <<<"$sizes")" -lt 1048576 ] || fail "a ConfigMap of the journal passes 1 MiB: $sizes"
	assert_eq 6 "$("$BIN/volshift" status "$id" --output json | jq '.objects | with_entries(select(.key | endswith("/original"))) | length')" \
		"originals saved in the journal"
}

# ---- 5. pods without a controller ---------------------------------------------------------------

test_bare_pod_is_refused() {
	claim solo local
	bare_pod solo solo
	app web local
	wait_for 60 "pod solo running" field_is pod solo '{.status.phase}' Running
	ready deployment web
	snapshot before
	run bare --source-sc local --dest-sc shared
	expect_rc 1 bare
	says bare '^ +default +solo +pod solo mounts it and has no controller.*--delete-bare-pods' \
		"the refusal does not name the pod and --delete-bare-pods"
	says bare '^The other 1 claim can be migrated now, and these once their problem is solved:$' "no advice for the rest"
	says bare '^  volshift migrate --yes --source-sc local --dest-sc shared --pvc default/web$' \
		"no --pvc command for the rest"
	says bare '^  kubectl label pvc -n default solo volshift.io/later=true$' "no label command"
	says bare "^  volshift migrate --yes --source-sc local --dest-sc shared --selector '!volshift.io/later'$" \
		"no --selector command for the rest"
	unchanged before "a refused bare pod"
	no_leftovers
}

test_bare_pod_deleted_with_flag() {
	claim solo local
	bare_pod solo solo
	wait_for 60 "pod solo running" field_is pod solo '{.status.phase}' Running
	wait_for 60 "pod solo wrote its file" test -s "$(claim_dir solo)/bare"
	local dir before after
	dir=$(claim_dir solo)
	fill_tree "$dir"
	before=$(tree_sum "$dir")
	run barex --source-sc local --dest-sc shared --delete-bare-pods
	expect_rc 0 barex
	says barex 'Done: 1 claim moved' "no summary"
	assert_eq shared "$(jp pvc solo '{.spec.storageClassName}')" "claim class"
	assert_eq Bound "$(jp pvc solo '{.status.phase}')" "claim phase"
	after=$(tree_sum "$(claim_dir solo)")
	[ "$before" = "$after" ] || fail "data differs: $(diff <(echo "$before") <(echo "$after") | head -20)"
	! kubectl get pod solo >/dev/null 2>&1 || fail "bare pod solo still exists: $(kubectl get pod solo -o wide)"
	no_leftovers
}

# ---- 6. volumes without a claim -------------------------------------------------------------------

test_volume_without_claim_is_left_alone() {
	app web local
	ready deployment web
	fill_tree "$(claim_dir web)"
	local before after pvs_before pvs_after
	before=$(tree_sum "$(claim_dir web)")
	mkdir -p "$SIM_DIR/static/free" "$SIM_DIR/static/released"
	echo free >"$SIM_DIR/static/free/keep"
	echo released >"$SIM_DIR/static/released/keep"
	# Made after web is bound, and too small for any claim here, so nothing binds them.
	kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: orphan-free}
spec:
  storageClassName: local
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  local: {path: $SIM_DIR/static/free}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-1]}]
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: orphan-released}
spec:
  storageClassName: local
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $SIM_DIR/static/released}
  claimRef: {namespace: default, name: gone, uid: 0b0e5d2c-0000-4000-8000-000000000001}
YAML
	wait_for 60 "orphan-free Available" field_is pv orphan-free '{.status.phase}' Available
	wait_for 60 "orphan-released Released" field_is pv orphan-released '{.status.phase}' Released
	wait_for 90 "the cluster to settle" state_settled
	pvs_before=$(kubectl get pv orphan-free orphan-released -o json | jq -S '[.items[] | del(.metadata.managedFields)]')
	run orphans --source-sc local --dest-sc shared
	expect_rc 0 orphans
	says orphans 'warning: PersistentVolume orphan-free .*has no claim' "no warning about orphan-free"
	says orphans 'warning: PersistentVolume orphan-released .*has no claim' "no warning about orphan-released"
	pvs_after=$(kubectl get pv orphan-free orphan-released -o json | jq -S '[.items[] | del(.metadata.managedFields)]')
	[ "$pvs_before" = "$pvs_after" ] || fail "the claimless volumes were touched:
$(diff <(echo "$pvs_before") <(echo "$pvs_after"))"
	assert_eq free "$(cat "$SIM_DIR/static/free/keep")" "orphan-free's data"
	assert_eq released "$(cat "$SIM_DIR/static/released/keep")" "orphan-released's data"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim web migrated"
	after=$(tree_sum "$(claim_dir web)")
	[ "$before" = "$after" ] || fail "data differs: $(diff <(echo "$before") <(echo "$after") | head -20)"
	ready deployment web
	no_leftovers
}

# ---- 7. usage errors ----------------------------------------------------------------------------

test_usage_errors_exit_2_and_change_nothing() {
	two_apps
	snapshot before
	local i=0 args
	while IFS= read -r args; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # each line is a list of words
		run "usage$i" $args
		expect_rc 2 "usage$i"
		[ -s "$SIM_DIR/usage$i.err" ] || fail "usage$i ($args): no message on stderr"
		! grep -q '^Plan:' "$SIM_DIR/usage$i.out" || fail "usage$i ($args): printed a plan
$(show "usage$i")"
	done <<'ARGS'
--source-sc local
--source-sc local --dest-sc shared --output yaml
--source-sc local --dest-sc shared --pod-ready-timeout abc
--source-sc local --dest-sc shared unexpected
--source-sc local --dest-sc shared --pvc web
--source-sc local --dest-sc local
--source-sc local --dest-sc shared --rsync-flags=--remove-source-files
--source-sc local --dest-sc shared --rsync-flags=-avn
--source-sc local --dest-sc shared --rsync-flags=--exclude=tmp,--size-only
--source-sc local --dest-sc shared --rsync-flags=--modify-window=5
--source-sc local --dest-sc shared --pvc ns2/doesnotexist
--source-sc local --dest-sc shared --pvc default/files
--source-sc local --dest-sc shared --namespace other --pvc default/web
--source-sc local --dest-sc shared --selector app=nope --pvc default/web
ARGS
	says usage7 'remove-source-files: refused, it deletes the source' "--remove-source-files is not refused by name"
	says usage8 '-avn: refused, it copies nothing' "a -n in a cluster of short flags is not refused"
	says usage9 '--size-only: refused' "--size-only is not refused by name"
	says usage10 '--modify-window=5: refused' "--modify-window is not refused by name"
	says usage1 'dest-sc' "missing --dest-sc is not named"
	says usage2 'yaml' "--output yaml is not named"
	says usage3 'pod-ready-timeout abc' "--pod-ready-timeout abc is not named"
	says usage4 'unexpected' "the unexpected argument is not named"
	says usage5 '--pvc "web"' "--pvc web is not named"
	says usage11 '--pvc ns2/doesnotexist: there is no claim doesnotexist in namespace ns2' "a --pvc naming no claim"
	says usage12 '--pvc default/files: that claim is of class shared, not --source-sc local' "a --pvc of another class"
	says usage13 '--pvc default/web is outside --namespace other' "a --pvc outside --namespace"
	says usage14 '--pvc default/web: that claim does not match --selector app=nope' "a --pvc outside --selector"
	unchanged before "the usage errors"
	no_leftovers
	# flags that only tune or select are taken (the plan is printed)
	run usage-ok --source-sc local --dest-sc shared --dry-run --rsync-flags=--exclude=lost+found,-vP,--info=progress2
	expect_rc 0 usage-ok
}

# A --pvc that names nothing is said before volshift does anything at all: here the probe a killed
# volshift left, which any other run removes first, stays.
test_a_pvc_naming_nothing_is_said_before_anything_is_done() {
	two_apps
	RC=0
	VOLSHIFT_FAILPOINTS=probe:pod-running=crash vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/killed.out" 2>&1 || RC=$?
	expect_rc 86 killed
	[ -n "$(probe_objects)" ] || fail "the killed run left no probe"
	snapshot before
	run typo --source-sc local --dest-sc shared --pvc default/wbe
	expect_rc 2 typo
	says typo '^volshift migrate: --pvc default/wbe: there is no claim wbe in namespace default$'
	! grep -q 'removed access-mode probe' "$SIM_DIR/typo.out" || fail "the leftover probe was removed
$(show typo)"
	unchanged before "a --pvc naming nothing"
	[ -n "$(probe_objects)" ] || fail "the leftover probe is gone"
}

# A command that cannot read its configuration says which command it was.
test_configuration_errors_name_the_command() {
	local cmd args
	for cmd in migrate status; do
		args=()
		[ "$cmd" = migrate ] && args=(--source-sc local --dest-sc shared)
		KUBECONFIG=/nonexistent/kubeconfig "$BIN/volshift" "$cmd" "${args[@]}" >"$SIM_DIR/$cmd.out" 2>&1 &&
			fail "$cmd succeeded"
		grep -q "^volshift $cmd: cluster configuration:" "$SIM_DIR/$cmd.out" ||
			fail "the error does not name volshift $cmd: $(cat "$SIM_DIR/$cmd.out")"
	done
}

# ---- 8. JSON events -----------------------------------------------------------------------------

test_json_output_is_one_event_per_line() {
	two_apps
	run json --source-sc local --dest-sc shared --output json
	expect_rc 0 json
	local n=0 line events e
	while IFS= read -r line; do
		n=$((n + 1))
		jq -e 'type == "object" and (.event | type == "string")' <<<"$line" >/dev/null ||
			fail "stdout line $n is not a JSON event: $line"
	done <"$SIM_DIR/json.out"
	[ "$n" -gt 0 ] || fail "no JSON on stdout
$(show json)"
	events=$(jq -r .event "$SIM_DIR/json.out")
	for e in plan copy-done workload-ready 'done'; do
		grep -qx "$e" <<<"$events" || fail "no $e event; events: $(tr '\n' ' ' <<<"$events")"
	done
	jq -se '[.[] | select(.event == "workload-ready")] | length > 0 and all(.downtimeMs | type == "number" and . >= 0)' \
		"$SIM_DIR/json.out" >/dev/null || fail "workload-ready without a numeric downtimeMs
$(show json)"
	assert_eq "Deployment web" "$(jq -r 'select(.event == "workload-ready") | "\(.kind) \(.name)"' "$SIM_DIR/json.out")" \
		"workload-ready events"
	assert_eq "web warm web final" "$(jq -r 'select(.event == "copy-done") | "\(.pvc) \(.pass)"' "$SIM_DIR/json.out" | xargs)" \
		"copy-done events (the warm copy, then the final one)"
	assert_eq 1 "$(jq -r 'select(.event == "done") | .pvcs' "$SIM_DIR/json.out")" "claims in the done event"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	no_leftovers
}

# ---- 9. a copy that fails -----------------------------------------------------------------------

test_rsync_failure_restores_the_workload() {
	app web local
	ready deployment web
	local dir old_pv before after
	dir=$(claim_dir web)
	old_pv=$(jp pvc web '{.spec.volumeName}')
	fill_tree "$dir"
	before=$(tree_sum "$dir")
	run rsyncfail --source-sc local --dest-sc shared --rsync-flags=--no-such-rsync-flag
	expect_rc 1 rsyncfail
	says rsyncfail 'no-such-rsync-flag: unknown option' "the error does not carry rsync's message"
	ready deployment web
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "replicas restored"
	assert_eq "" "$(jp deployment web '{.metadata.annotations.kurl\.sh/pvcmigrate-scale}')" "scale annotation removed"
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	assert_eq "$old_pv" "$(jp pvc web '{.spec.volumeName}')" "claim volume"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "claim phase"
	after=$(tree_sum "$(claim_dir web)")
	[ "$before" = "$after" ] || fail "data differs: $(diff <(echo "$before") <(echo "$after") | head -20)"
	no_leftovers
	# the destination claim's volume goes by its reclaim policy
	wait_for 60 "the destination volume to be reclaimed" no_volume_of_class shared
}

# A claim with someone else's finalizer could not be deleted by the swap, its workloads stopped
# meanwhile: refused up front, the finalizer named, nothing changed.
test_a_foreign_finalizer_is_refused_up_front() {
	app fin local >/dev/null
	ready deployment fin
	kubectl patch pvc fin --type=json -p '[{"op": "add", "path": "/metadata/finalizers/-", "value": "backup.example.com/protect"}]' >/dev/null
	snapshot before
	run fin --source-sc local --dest-sc shared
	expect_rc 1 fin
	says fin 'finalizer backup.example.com/protect' "the finalizer is not named"
	says fin 'ask its owner to release it' "no advice"
	unchanged before "a refused migration"
	kubectl patch pvc fin --type=json -p '[{"op": "remove", "path": "/metadata/finalizers/1"}]' >/dev/null
}

# A failure after the first swap of a group (here an error injected once its first claim is Bound
# to its copy): the group goes back onto its original volumes and its workloads run again; a resume
# then does the whole group again.
test_a_failure_after_a_swap_restarts_the_workloads_on_their_data() {
	local sum pv id rc=0
	sum=$(filled_app web)
	pv=$(jp pvc web '{.spec.volumeName}')
	VOLSHIFT_FAILPOINTS=swap:claim-bound=error vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/fail.out" 2>&1 ||
		rc=$?
	assert_eq 1 "$rc" "exit status of the failed run"
	ready deployment web
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "web is back on its class"
	assert_eq "$pv" "$(jp pvc web '{.spec.volumeName}')" "web is back on its original volume"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after the failure"
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	"$BIN/volshift" resume "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "web after the resume"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after the resume"
	no_leftovers
}

# ---- 10. free space -------------------------------------------------------------------------------

# A claim larger than the free space of the destination's directory (class local names it in its
# parameter basePath; the sim's volumes all share one filesystem): refused before anything changes,
# after a df pod on every node where its copy may be made; the other claim can go, and the advice
# says how. --skip-free-space-check goes without the check; --dry-run runs no pod.
test_free_space_refuses_a_claim_that_cannot_fit() {
	app web shared
	claim huge shared default 100Ti
	ready deployment web
	wait_for 60 "claim huge bound" field_is pvc huge '{.status.phase}' Bound
	snapshot before
	run huge --source-sc shared --dest-sc local
	expect_rc 1 huge
	says huge "^==> checking free space: $SIM_DIR/volumes \(its parameter basePath of class local\) on nodes node-., node-., node-.$" \
		"no free-space pods on every node"
	says huge "free space on node-. in $SIM_DIR/volumes: .*, the copies made there need 100\.0 TiB: not enough$"
	says huge "^ +default +huge +its copy may be made on any node, as may those of default/huge \(100Ti\): 100\.0 TiB in all; node node-. has [0-9.]+ [KMGT]iB free in $SIM_DIR/volumes" \
		"the problem does not name the claim and the room there is"
	! sed -n '/^Cannot migrate/,/^$/p' "$SIM_DIR/huge.out" | grep -Eq '^ +default +web ' || fail "web is refused too
$(show huge)"
	says huge '^  volshift migrate --yes --source-sc shared --dest-sc local --pvc default/web$' "no advice for web"
	unchanged before "a migration refused for lack of space"
	no_leftovers
	run dry --source-sc shared --dest-sc local --dry-run
	expect_rc 0 dry
	says dry 'free space not measured: --dry-run runs no pod'
	run skip --source-sc shared --dest-sc local --dry-run --skip-free-space-check
	expect_rc 0 skip
	says skip 'free-space check skipped \(--skip-free-space-check\)'
	unchanged before "the dry runs"
}

# ---- 11. claims that are not bound yet -------------------------------------------------------------

# A claim of the source class with no volume yet (WaitForFirstConsumer and no pod) has nothing to
# copy: the plan names it and the migration of the others goes ahead; named with --pvc, it is a
# problem.
test_a_pending_claim_is_named_and_left_out() {
	claim waiting local
	app web local
	ready deployment web
	assert_eq Pending "$(jp pvc waiting '{.status.phase}')" "phase of claim waiting"
	snapshot before
	run pendpvc --source-sc local --dest-sc shared --pvc default/waiting
	expect_rc 1 pendpvc
	says pendpvc '^ +default +waiting +Pending: not bound to a volume yet, so there is nothing to copy; bind it' \
		"--pvc of a Pending claim is not refused"
	unchanged before "a refused --pvc of a Pending claim"
	run pendjson --source-sc local --dest-sc shared --dry-run --output json
	expect_rc 0 pendjson
	assert_eq 1 "$(jq -r 'select(.event == "plan") | .plan.warnings[]' "$SIM_DIR/pendjson.out" | grep -c 'claim default/waiting (class local) is Pending')" \
		"the JSON plan's warning"
	run pend --source-sc local --dest-sc shared
	expect_rc 0 pend
	says pend '^warning: claim default/waiting \(class local\) is Pending: not bound to a volume yet, so there is nothing to copy and it is not migrated; bind it \(a pod that mounts it does\) or delete it, then run again' \
		"the plan does not name the Pending claim"
	says pend 'Done: 1 claim moved'
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	assert_eq local "$(jp pvc waiting '{.spec.storageClassName}')" "class of the Pending claim"
	no_leftovers
}

# ---- 12. block volumes --------------------------------------------------------------------------

test_block_claim_is_refused() {
	# The sim's provisioners make Filesystem volumes only; a Block claim binds to a static Block PV.
	mkdir -p "$SIM_DIR/static/block"
	kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: blockvol}
spec:
  storageClassName: local
  capacity: {storage: 10Mi}
  accessModes: [ReadWriteOnce]
  volumeMode: Block
  persistentVolumeReclaimPolicy: Retain
  local: {path: $SIM_DIR/static/block}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-2]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: raw}
spec:
  storageClassName: local
  volumeMode: Block
  volumeName: blockvol
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
	wait_for 60 "claim raw bound" field_is pvc raw '{.status.phase}' Bound
	app web local
	ready deployment web
	snapshot before
	run block --source-sc local --dest-sc shared
	expect_rc 1 block
	says block '^ +default +raw +volumeMode Block' "the refusal does not name the Block claim"
	unchanged before "a refused Block claim"
	no_leftovers
	# the advice is a command that works: label the refused claim, select the rest
	local cmds
	cmds=$(sed -n '/^or, after labelling the claims refused here:$/,$p' "$SIM_DIR/block.out" | sed -n 's/^  //p')
	assert_eq 2 "$(wc -l <<<"$cmds")" "the label and select commands ($cmds)"
	eval "$(sed -n 1p <<<"$cmds")" >/dev/null
	eval "\"\$BIN/volshift\" $(sed -n 2p <<<"$cmds" | sed 's/^volshift //')" >"$SIM_DIR/rest.out" 2>&1 ||
		fail "the advised command failed: $(tail -5 "$SIM_DIR/rest.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web after the advised command"
	assert_eq local "$(jp pvc raw '{.spec.storageClassName}')" "class of raw after the advised command"
	assert_eq blockvol "$(jp pvc raw '{.spec.volumeName}')" "volume of raw"
	ready deployment web
	no_leftovers
}

e2e_main
