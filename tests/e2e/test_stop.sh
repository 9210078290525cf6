#!/usr/bin/env bash
# End-to-end: stopping a migration on request. The first SIGINT (Ctrl-C) or SIGTERM, like `volshift
# abort ID`, stops at the next safe point: no new group starts; a group still copying while its
# workloads run is abandoned (its destination claims removed); a group whose workloads are stopped
# is undone before its first swap (they run again on their original data) and finishes its switch
# after it. A second SIGINT ends volshift at once. Either way the last lines give the migration's id
# and the status, resume and rollback commands, and `volshift resume` then finishes the migration.
. "$(dirname "$0")/migrate_lib.sh"

# ends_with_commands: the run's last lines name the unfinished migration and how to go on; prints
# its id.
ends_with_commands() {
	local id
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	tail -n 5 "$SIM_DIR/run.out" | grep -q "volshift status $id" || fail "no status command at the end: $(tail -n 6 "$SIM_DIR/run.out")"
	tail -n 5 "$SIM_DIR/run.out" | grep -q "volshift resume $id" || fail "no resume command at the end"
	tail -n 5 "$SIM_DIR/run.out" | grep -q "volshift rollback $id" || fail "no rollback command at the end"
	echo "$id"
}

# resumed ID CLAIM...: volshift resume ID finishes; every CLAIM is on shared with its data.
resumed() {
	local id=$1
	shift
	"$BIN/volshift" resume "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	local c
	for c in "$@"; do
		assert_eq shared "$(jp pvc "$c" '{.spec.storageClassName}')" "class of $c after the resume"
		ready deployment "$c"
	done
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "phase after the resume"
	no_leftovers
}

# Ctrl-C while the group copies beside its running application: the group is abandoned, the
# application never stopped, nothing of the migration is left in its way.
test_ctrl_c_during_the_warm_copy_abandons_the_group() {
	local sum rc=0 id
	sum=$(filled_app web)
	migrate_bg warm:before=sleep:4000
	until_out "copying while the workloads run"
	kill -INT "$MIG_PID"
	wait "$MIG_PID" || rc=$?
	assert_eq 1 "$rc" "exit status after Ctrl-C"
	grep -q "stopped on request (SIGINT or SIGTERM)" "$SIM_DIR/run.out" || fail "the stop is not explained: $(tail "$SIM_DIR/run.out")"
	id=$(ends_with_commands)
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	assert_eq "" "$(kubectl get pvc web-pvcmigrate -o name 2>/dev/null)" "the destination claim is removed"
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "scale of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web changed"
	assert_eq aborted "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "phase"
	resumed "$id" web
}

# Ctrl-C once the workloads are stopped and before any claim is switched: undone, the application
# runs again on its original data at once.
test_ctrl_c_after_the_stop_undoes_the_group() {
	local sum rc=0 id
	sum=$(filled_app web)
	migrate_bg copy:before=sleep:4000 --no-warm-copy
	until_out "failpoint copy:before: sleeping"
	kill -INT "$MIG_PID"
	wait "$MIG_PID" || rc=$?
	assert_eq 1 "$rc" "exit status after Ctrl-C"
	id=$(ends_with_commands)
	ready deployment web
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	assert_eq 1 "$(jp deployment web '{.spec.replicas}')" "scale of web"
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web changed"
	resumed "$id" web
}

# Ctrl-C once a claim of the group is switched: the group finishes its switch and starts, then no
# other group starts.
test_ctrl_c_during_a_swap_finishes_that_group_only() {
	local rc=0 id
	app one local >/dev/null
	app two local >/dev/null
	ready deployment one
	ready deployment two
	migrate_bg swap:claim-created=sleep:3000@1 --parallel 1
	until_out "switching the claims"
	sleep 1
	kill -TERM "$MIG_PID"
	wait "$MIG_PID" || rc=$?
	assert_eq 1 "$rc" "exit status after SIGTERM"
	id=$(ends_with_commands)
	local switched
	switched=$(for c in one two; do jp pvc "$c" '{.spec.storageClassName}'; echo; done | grep -c shared)
	assert_eq 1 "$switched" "claims switched (the group in its swap finished, the other never started)"
	for c in one two; do ready deployment "$c"; done
	resumed "$id" one two
}

# A second Ctrl-C ends volshift at once, with the commands.
test_a_second_ctrl_c_exits_at_once() {
	local rc=0 id
	filled_app web >/dev/null
	migrate_bg copy:before=sleep:20000 --no-warm-copy
	until_out "failpoint copy:before: sleeping"
	kill -INT "$MIG_PID"
	sleep 0.5
	kill -INT "$MIG_PID"
	wait "$MIG_PID" || rc=$?
	assert_eq 130 "$rc" "exit status after a second Ctrl-C"
	id=$(ends_with_commands)
	# killed in its stop: resume finishes it from the journal
	resumed "$id" web
}

# `volshift abort` during a two-group migration, then `volshift resume`: the migration is finished,
# and status said who aborted it.
test_abort_then_resume_finishes_the_migration() {
	local rc=0 id
	app one local >/dev/null
	app two local >/dev/null
	ready deployment one
	ready deployment two
	migrate_bg warm:before=sleep:3000@2 --parallel 1
	until_out "done in"
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	"$BIN/volshift" abort "$id" >/dev/null || fail "abort failed"
	wait "$MIG_PID" || rc=$?
	assert_eq 1 "$rc" "exit status of the aborted run"
	"$BIN/volshift" status "$id" >"$SIM_DIR/status.out" || true
	grep -q "abort    requested at .* by .*@.*: it stopped" "$SIM_DIR/status.out" ||
		fail "status does not say who aborted: $(cat "$SIM_DIR/status.out")"
	assert_eq aborted "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "phase"
	resumed "$id" one two
}

e2e_main
