#!/usr/bin/env bash
# End-to-end: --output json for programs. Every event of a migration, a dry run, a failed run, a
# resume and a rollback is one JSON object whose type and fields are in the README's table ("JSON
# events"), which this test reads; every event after the migration is known names it; a run that
# stops unfinished ends with the commands that show, resume or roll it back.
. "$(dirname "$0")/migrate_lib.sh"

# named_after FILE TYPE: every event from the first TYPE on carries migration, and it is that one's.
named_after() {
	local id
	id=$(jq -r --arg t "$2" 'select(.event == $t) | .migration' "$1" | head -n1)
	[ -n "$id" ] && [ "$id" != null ] || fail "no $2 event naming the migration in $1"
	[ "$(jq -s --arg t "$2" --arg id "$id" '(map(.event == $t) | index(true)) as $i | .[$i:] |
		map(select(.migration != $id)) | length' "$1")" = 0 ] || fail "events after $2 without migration $id in $1"
}

test_a_migration_a_dry_run_and_a_failure_match_the_table() {
	local before
	app web local >/dev/null
	statefulset db local 2 >/dev/null
	ready deployment web
	ready statefulset db default 120
	"$BIN/volshift" migrate --source-sc local --dest-sc shared --dry-run --output json >"$SIM_DIR/dry.json" ||
		fail "dry run failed"
	check_events "$SIM_DIR/dry.json"
	assert_eq 1 "$(jq -s 'map(select(.event == "plan")) | length' "$SIM_DIR/dry.json")" "plan events of the dry run"
	vs_migrate --source-sc local --dest-sc shared --output json >"$SIM_DIR/run.json" 2>"$SIM_DIR/run.err" ||
		fail "migrate failed: $(tail -3 "$SIM_DIR/run.err")"
	check_events "$SIM_DIR/run.json"
	named_after "$SIM_DIR/run.json" migration
	assert_eq "volshift-system" "$(jq -r 'select(.event == "migration") | .journal.namespace' "$SIM_DIR/run.json")" \
		"the journal's namespace"
	[ "$(jq -s 'map(select(.event == "group-done" and (.downtimeMs | type) == "object")) | length' "$SIM_DIR/run.json")" = 2 ] ||
		fail "not every group-done has downtimeMs"
	# a failure: the last event says how to go on with the migration it names
	app fail local >/dev/null
	ready deployment fail
	before=0
	vs_migrate --source-sc local --dest-sc shared --output json --rsync-flags=--no-such-rsync-flag \
		>"$SIM_DIR/fail.json" 2>/dev/null || before=$?
	assert_eq 1 "$before" "exit status of the failed run"
	check_events "$SIM_DIR/fail.json"
	named_after "$SIM_DIR/fail.json" migration
	local id last
	id=$(jq -r 'select(.event == "migration") | .migration' "$SIM_DIR/fail.json")
	last=$(tail -n1 "$SIM_DIR/fail.json")
	assert_eq unfinished "$(jq -r .event <<<"$last")" "the last event of a failed run"
	assert_eq "volshift resume $id" "$(jq -r .commands.resume <<<"$last")" "the resume command"
	assert_eq "volshift rollback $id" "$(jq -r .commands.rollback <<<"$last")" "the rollback command"
	"$BIN/volshift" rollback --force "$id" --output json >"$SIM_DIR/rollback.json" 2>/dev/null || fail "rollback failed"
	check_events "$SIM_DIR/rollback.json"
	named_after "$SIM_DIR/rollback.json" rollback
}

# A killed run resumed, and one rolled back: their events too; the text output of a stopped run ends
# with the commands.
test_resume_and_rollback_match_the_table() {
	local id
	app web local >/dev/null
	ready deployment web
	id=$(crash_at swap:pinned) || return 1
	"$BIN/volshift" resume --force "$id" --output json >"$SIM_DIR/resume.json" 2>/dev/null || fail "resume failed"
	check_events "$SIM_DIR/resume.json"
	named_after "$SIM_DIR/resume.json" resume
	app two local >/dev/null
	ready deployment two
	local rc=0
	vs_migrate --source-sc local --dest-sc shared --rsync-flags=--no-such-rsync-flag >"$SIM_DIR/text.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status of the failed run"
	id=$("$BIN/volshift" status --output json | jq -r 'select(.phase == "failed") | .id' | head -n1)
	tail -n 4 "$SIM_DIR/text.out" | grep -q "volshift resume $id" || fail "the text output does not end with the resume command:
$(tail -n 6 "$SIM_DIR/text.out")"
	tail -n 4 "$SIM_DIR/text.out" | grep -q "volshift rollback $id" || fail "no rollback command at the end"
}

# The API server cut off (every request reset) for longer than --api-timeout: the api-outage
# events (waiting, then gave-up) match the table, and the run ends with the commands.
test_an_api_outage_matches_the_table() {
	local rc=0 pid last
	app web local >/dev/null
	ready deployment web
	VOLSHIFT_FAILPOINTS=copy:before=sleep:2000 vs_migrate --source-sc local --dest-sc shared --output json \
		--api-timeout 5 >"$SIM_DIR/outage.json" 2>/dev/null &
	pid=$!
	wait_for 120 "the copy's failpoint" grep -q '"phase":"final"' "$SIM_DIR/outage.json"
	sim_faults "rate=1,kinds=reset"
	wait "$pid" || rc=$?
	sim_faults off
	assert_eq 1 "$rc" "exit status of the cut-off run"
	check_events "$SIM_DIR/outage.json"
	named_after "$SIM_DIR/outage.json" migration
	assert_eq waiting "$(jq -r 'select(.event == "api-outage") | .state' "$SIM_DIR/outage.json" | head -n1)" \
		"the first api-outage event"
	assert_eq gave-up "$(jq -r 'select(.event == "api-outage") | .state' "$SIM_DIR/outage.json" | tail -n1)" \
		"the last api-outage event"
	assert_eq "$SIM_URL" "$(jq -r 'select(.event == "api-outage") | .server' "$SIM_DIR/outage.json" | head -n1)" "server"
	last=$(tail -n1 "$SIM_DIR/outage.json")
	assert_eq unfinished "$(jq -r .event <<<"$last")" "the last event of the cut-off run"
}

e2e_main
