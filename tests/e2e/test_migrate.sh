#!/usr/bin/env bash
# End-to-end: volshift migrate moves claims with all their data and brings the workloads back.
. "$(dirname "$0")/migrate_lib.sh"

test_deployment_keeps_every_file() {
	app web local
	ready deployment web
	local dir old_pv before after
	dir=$(claim_dir web)
	old_pv=$(jp pvc web '{.spec.volumeName}')
	fill_tree "$dir"
	before=$(tree_sum "$dir")
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/migrate.out"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "claim phase"
	assert_eq app=web "$(kubectl get pvc web -o jsonpath='app={.metadata.labels.app}')" "claim labels kept"
	after=$(tree_sum "$(claim_dir web)")
	[ "$before" = "$after" ] || fail "data differs: $(diff <(echo "$before") <(echo "$after") | head -20)"
	ready deployment web
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "replicas restored"
	assert_eq "" "$(jp deployment web '{.metadata.annotations.kurl\.sh/pvcmigrate-scale}')" "scale annotation removed"
	! kubectl get pv "$old_pv" 2>/dev/null || fail "old volume $old_pv still exists"
	[ ! -e "$dir" ] || fail "old volume's data $dir was not reclaimed"
	assert_eq Delete "$(jp pv "$(jp pvc web '{.spec.volumeName}')" '{.spec.persistentVolumeReclaimPolicy}')" "reclaim policy"
	no_leftovers
	grep -q "Done: 1 claim moved" "$SIM_DIR/migrate.out" || fail "no summary: $(cat "$SIM_DIR/migrate.out")"
}

# Installed as kubectl-volshift, volshift is a kubectl plugin; --help, --version and usage errors
# answer with the documented exit codes.
test_kubectl_plugin_help_and_exit_codes() {
	app web local
	ready deployment web
	mkdir -p "$SIM_DIR/plugins"
	ln -s "$BIN/volshift" "$SIM_DIR/plugins/kubectl-volshift"
	local out
	out=$(PATH="$SIM_DIR/plugins:$PATH" kubectl volshift migrate --source-sc local --dest-sc shared --dry-run)
	[[ "$out" == *"Plan: move 1 claim from class local to shared"* ]] || fail "plugin output: $out"
	[[ "$out" == *"web"*"Deployment web"* ]] || fail "plan does not name the claim and its workload: $out"
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "dry run changed nothing"
	grep -q '^volshift [0-9]' <<<"$("$BIN/volshift" --version)" || fail "--version"
	grep -q -- '--delete-pv-timeout' <<<"$("$BIN/volshift" migrate --help)" || fail "migrate --help lists the flags"
	local rc=0
	"$BIN/volshift" migrate --source-sc local 2>/dev/null || rc=$?
	assert_eq 2 "$rc" "exit code without --dest-sc"
	rc=0
	"$BIN/volshift" nonsense 2>/dev/null || rc=$?
	assert_eq 2 "$rc" "exit code of an unknown command"
}

# volshift migrate with the classes of a migration that did not finish resumes that one (its
# journal, its plan) instead of planning a second migration over the first one's leftovers.
test_migrate_again_resumes_the_unfinished_one() {
	local id sum
	sum=$(filled_app web)
	id=$(crash_at swap:temporary-deleted) || return 1
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/again.out" 2>&1 || fail "second run failed: $(tail -5 "$SIM_DIR/again.out")"
	grep -q "migration $id of the same classes did not finish: resuming it" "$SIM_DIR/again.out" ||
		fail "the unfinished migration was not resumed: $(head -5 "$SIM_DIR/again.out")"
	assert_eq 1 "$("$BIN/volshift" status --output json | jq -s length)" "a second journal was started"
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "phase of $id"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs"
	ready deployment web
	no_leftovers
}

e2e_main
