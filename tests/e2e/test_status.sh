#!/usr/bin/env bash
# End-to-end: `volshift status`. After a crash in the middle of a swap it names the two volumes
# volshift holds (and every Retained volume is among them), after resume it shows the migration done
# with bytes copied and nothing held; `--watch ID` ends at once on a finished migration, follows a
# running one to its end, and exits 1 for a failed one; `--watch` without ID runs until interrupted.
. "$(dirname "$0")/migrate_lib.sh"

vs_status() { "$BIN/volshift" status "$@"; }

# newest_id: the id of the newest migration.
newest_id() { vs_status --output json | jq -r .id | head -n1; }

# has_migration: a journal is recorded.
has_migration() { [ -n "$(newest_id)" ]; }

# held_by_annotation: every PV carrying volshift's original-policy annotation, sorted.
held_by_annotation() {
	kubectl get pv -o json | jq -r '.items[] | select(.metadata.annotations["volshift.io/original-reclaim-policy"]) | .metadata.name' | sort
}

test_status_names_the_held_volumes_after_a_crash_and_none_after_resume() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	local rc=0 id src copy out
	VOLSHIFT_FAILPOINTS="swap:retained=crash" vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/first.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "volshift crashes at swap:retained: $(tail -3 "$SIM_DIR/first.out")"
	id=$(newest_id)
	src=$(jp pvc web '{.spec.volumeName}')
	copy=$(jp pvc web-pvcmigrate '{.spec.volumeName}')
	[ -n "$src" ] && [ -n "$copy" ] || fail "source ($src) or copy ($copy) volume not found"

	vs_status "$id" --output json >"$SIM_DIR/held.json"
	assert_eq running "$(jq -r .phase "$SIM_DIR/held.json")" "phase after the crash"
	assert_eq "$(printf '%s\n' "$src" "$copy" | sort)" "$(jq -r '.heldVolumes[].name' "$SIM_DIR/held.json" | sort)" "held volumes"
	assert_eq "$(held_by_annotation)" "$(jq -r '.heldVolumes[].name' "$SIM_DIR/held.json" | sort)" "every annotated volume is accounted for"
	assert_eq source "$(jq -r --arg pv "$src" '.heldVolumes[] | select(.name == $pv) | .role' "$SIM_DIR/held.json")" "role of $src"
	assert_eq copy "$(jq -r --arg pv "$copy" '.heldVolumes[] | select(.name == $pv) | .role' "$SIM_DIR/held.json")" "role of $copy"
	assert_eq "Retain Retain" "$(jq -r '[.heldVolumes[].reclaimPolicy] | join(" ")' "$SIM_DIR/held.json")" "held volumes are Retain"
	assert_eq "Delete Delete" "$(jq -r '[.heldVolumes[].restorePolicy] | join(" ")' "$SIM_DIR/held.json")" "policies given back"

	out=$(vs_status "$id")
	grep -q "^Migration $id: running" <<<"$out" || fail "text header: $out"
	grep -q "^Volumes held by volshift (" <<<"$out" || fail "no held volumes section: $out"
	grep -q "$src .*default/web .*source" <<<"$out" || fail "text does not name the source volume $src: $out"
	grep -q "$copy .*default/web-pvcmigrate .*copy" <<<"$out" || fail "text does not name the copy $copy: $out"
	grep -q "default/web  *swap intent" <<<"$out" || fail "claim's step is not 'swap intent': $out"

	"$BIN/volshift" resume --force "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	vs_status "$id" --output json >"$SIM_DIR/done.json"
	assert_eq done "$(jq -r .phase "$SIM_DIR/done.json")" "phase after resume"
	assert_eq 0 "$(jq '.heldVolumes | length' "$SIM_DIR/done.json")" "volumes held after resume"
	assert_eq "" "$(held_by_annotation)" "annotated volumes after resume"
	jq -e '(.steps["claim/default/web/warm"].bytes // 0) + (.steps["claim/default/web/copy"].bytes // 0) > 0 and
		.bytesCopied > 0' "$SIM_DIR/done.json" >/dev/null ||
		fail "no bytes recorded for the copy: $(jq -c .steps "$SIM_DIR/done.json")"
	out=$(vs_status "$id")
	grep -q "^Volumes held by volshift: none" <<<"$out" || fail "text after resume: $out"
	grep -q "Deployment default/web: downtime [0-9]" <<<"$out" || fail "no downtime for the Deployment: $out"
	grep -q "default/web  *release done  *[0-9.]* MiB" <<<"$out" || fail "claim line after resume: $out"

	rc=0
	SECONDS=0
	timeout 20 "$BIN/volshift" status --watch "$id" >"$SIM_DIR/watch-done.out" || rc=$?
	assert_eq 0 "$rc" "status --watch on a finished migration"
	[ "$SECONDS" -le 3 ] || fail "status --watch on a finished migration took ${SECONDS}s"
	grep -q "^Migration $id: done" "$SIM_DIR/watch-done.out" || fail "watch output: $(cat "$SIM_DIR/watch-done.out")"

	rc=0
	timeout 5 "$BIN/volshift" status --watch >"$SIM_DIR/watch-list.out" || rc=$?
	assert_eq 124 "$rc" "status --watch without ID runs until interrupted"
	assert_eq 1 "$(grep -c '^ID  *PHASE' "$SIM_DIR/watch-list.out")" "views printed without a change (not a terminal)"
	grep -q "^$id  *done " "$SIM_DIR/watch-list.out" || fail "list: $(cat "$SIM_DIR/watch-list.out")"

	rc=0
	vs_status nosuchid >/dev/null 2>"$SIM_DIR/missing.err" || rc=$?
	assert_eq 1 "$rc" "status of a migration that does not exist"
	grep -q "migration nosuchid: not found in namespace volshift-system" "$SIM_DIR/missing.err" || fail "message: $(cat "$SIM_DIR/missing.err")"
}

test_status_watch_follows_a_running_migration_to_its_end() {
	app web local >/dev/null
	ready deployment web
	head -c 6000000 /dev/urandom >"$(claim_dir web)/big"
	local mig rc=0 id
	# about 6 s of copying at 1000 KiB/s
	vs_migrate --source-sc local --dest-sc shared --rsync-flags=--bwlimit=1000 >"$SIM_DIR/migrate.out" 2>&1 &
	mig=$!
	wait_for 30 "the migration's journal" has_migration
	id=$(newest_id)
	assert_eq running "$(vs_status "$id" --output json | jq -r .phase)" "phase when the watch starts"
	timeout 120 "$BIN/volshift" status --watch "$id" --output json >"$SIM_DIR/watch.json" &
	local json=$!
	timeout 120 "$BIN/volshift" status --watch "$id" >"$SIM_DIR/watch.out" || rc=$?
	assert_eq 0 "$rc" "status --watch exit status: $(tail -5 "$SIM_DIR/watch.out")"
	wait "$json" || fail "status --watch --output json failed"
	wait "$mig" || fail "migration failed: $(tail -5 "$SIM_DIR/migrate.out")"
	[ "$(grep -c "^Migration $id: running" "$SIM_DIR/watch.out")" -ge 1 ] || fail "no view while running: $(cat "$SIM_DIR/watch.out")"
	assert_eq "Migration $id: done, class local -> shared" "$(grep "^Migration $id:" "$SIM_DIR/watch.out" | tail -n1)" "last view"
	assert_eq done "$(tail -n1 "$SIM_DIR/watch.json" | jq -r .phase)" "last JSON view"
	assert_eq "" "$(jq -c 'del(.leaseRenewed)' "$SIM_DIR/watch.json" | uniq -d)" "a JSON view printed again without a change"

	# a migration that fails: --watch ends with 1
	VOLSHIFT_FAILPOINTS="copy:before=error" vs_migrate --source-sc shared --dest-sc local >"$SIM_DIR/failed.out" 2>&1 &&
		fail "the migration with an injected error succeeded"
	id=$(newest_id)
	assert_eq failed "$(vs_status "$id" --output json | jq -r .phase)" "phase of the failed migration"
	rc=0
	timeout 20 "$BIN/volshift" status --watch "$id" >"$SIM_DIR/watch-failed.out" || rc=$?
	assert_eq 1 "$rc" "status --watch on a failed migration"
	grep -q "copy failed" "$SIM_DIR/watch-failed.out" || fail "the failed step is not shown: $(cat "$SIM_DIR/watch-failed.out")"
}

e2e_main
