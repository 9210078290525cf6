#!/usr/bin/env bash
# End-to-end: the verification between the copy and the swap. A migration verifies each copy and
# finds nothing; a destination changed after the copy (volshift stopped at verify:before, then
# resumed) is copied again and verified; a change that keeps size and time is missed by
# --verify=size-time and found by --verify=checksum, then copied again; a copy that copies nothing
# stops the migration before any claim is switched; rsync flags that silence it are refused.
. "$(dirname "$0")/migrate_lib.sh"

# events FILE TYPE: the JSON events of type TYPE that FILE holds, one per line.
events() {
	grep '^{' "$1" | jq -c --arg t "$2" 'select(.event == $t)'
}

# field JSON FILTER: one value (jq -r) of a JSON text.
field() {
	jq -r "$2" <<<"$1"
}

# web_with_data: the Deployment web on class local, its claim filled; prints the claim's tree sum.
web_with_data() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	tree_sum "$(claim_dir web)"
}

# stop_before_verify ARGS...: migrate web with ARGS and volshift stopped after the copy; prints the
# migration's id.
stop_before_verify() {
	local rc=0
	VOLSHIFT_FAILPOINTS=verify:before=crash vs_migrate --source-sc local --dest-sc shared "$@" \
		>"$SIM_DIR/first.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "volshift stopped at verify:before: $(tail -3 "$SIM_DIR/first.out")"
	"$BIN/volshift" status --output json | jq -r .id | head -n1
}

# resume ID OUTPUT: volshift resume --force ID, its output in $SIM_DIR/resume.out.
resume() {
	"$BIN/volshift" resume --force "$1" --output "$2" >"$SIM_DIR/resume.out" 2>&1 ||
		fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
}

# migrated SUM: web is Bound on class shared with exactly the data whose tree sum is SUM.
migrated() {
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "phase of web"
	[ "$1" = "$(tree_sum "$(claim_dir web)")" ] || fail "the data of web differs from the source's:
$(diff <(echo "$1") <(tree_sum "$(claim_dir web)") | head -20)"
	ready deployment web
	no_leftovers
}

# not_migrated SUM: web is still on class local with its data, and its Deployment runs.
not_migrated() {
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	[ "$1" = "$(tree_sum "$(claim_dir web)")" ] || fail "the data of web changed"
	ready deployment web
	no_leftovers
}

test_a_migration_verifies_each_copy() {
	local sum out done order
	sum=$(web_with_data)
	out="$SIM_DIR/migrate.json"
	vs_migrate --source-sc local --dest-sc shared --output json >"$out" || fail "migrate failed: $(tail -3 "$out")"
	done=$(events "$out" verify-done)
	assert_eq 1 "$(grep -c . <<<"$done")" "verify-done events"
	assert_eq "default web size-time 1 0 []" \
		"$(field "$done" '"\(.namespace) \(.pvc) \(.mode) \(.attempt) \(.differences) \(.paths | tostring)"')" \
		"verify-done"
	# fill_tree's 11 entries and the application's id file.
	assert_eq 12 "$(field "$done" .files)" "entries checked"
	assert_eq "default web size-time 1" \
		"$(field "$(events "$out" verify-start)" '"\(.namespace) \(.pvc) \(.mode) \(.attempt)"')" "verify-start"
	order=$(grep '^{' "$out" | jq -r '.event' | grep -E '^(copy-done|verify-start|verify-done|swapped)$' | paste -sd' ')
	assert_eq "copy-done copy-done verify-start verify-done swapped" "$order" "order of the events (warm copy, final copy)"
	migrated "$sum"
}

# The copy step runs again on resume (every step checks the cluster again), so the resumed run
# copies, then verifies a copy that is whole again.
test_a_destination_changed_after_the_copy_is_copied_again_on_resume() {
	local sum id dest out order
	sum=$(web_with_data)
	id=$(stop_before_verify --output json)
	dest=$(claim_dir web-pvcmigrate)
	echo changed >>"$dest/sub/deeper/x" # different
	rm "$dest/sub/theirs"               # missing
	echo extra >"$dest/extra"           # only in the copy
	resume "$id" json
	out="$SIM_DIR/resume.out"
	order=$(grep '^{' "$out" | jq -r '.event' | grep -E '^(copy-done|verify-done|swapped)$' | paste -sd' ')
	assert_eq "copy-done verify-done swapped" "$order" "order of the events"
	assert_eq "1 0" "$(field "$(events "$out" verify-done)" '"\(.attempt) \(.differences)"')" "verification"
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "journal phase"
	migrated "$sum"
}

# change_keeping_size_and_time MODE: volshift stopped after the copy, a byte of the copy changed
# with its size and time kept, then resumed with text output.
change_keeping_size_and_time() {
	local id dest src
	id=$(stop_before_verify --verify="$1")
	src=$(claim_dir web)
	dest=$(claim_dir web-pvcmigrate)
	printf 'X' | dd of="$dest/sub/random.bin" bs=1 seek=1000 conv=notrunc status=none
	cmp -s "$src/sub/random.bin" "$dest/sub/random.bin" && printf 'Y' | dd of="$dest/sub/random.bin" bs=1 seek=1000 conv=notrunc status=none
	touch -r "$src/sub/random.bin" "$dest/sub/random.bin"
	resume "$id" text
}

test_size_time_misses_a_change_that_keeps_size_and_time() {
	local sum
	sum=$(web_with_data)
	change_keeping_size_and_time size-time
	grep -Eq '^    verified default/web: 12 files and directories, 0 differences' "$SIM_DIR/resume.out" ||
		fail "no verification line: $(cat "$SIM_DIR/resume.out")"
	[ "$sum" != "$(tree_sum "$(claim_dir web)")" ] || fail "size-time was expected to miss the change"
}

test_checksum_finds_a_change_that_keeps_size_and_time() {
	local sum out
	sum=$(web_with_data)
	change_keeping_size_and_time checksum
	out="$SIM_DIR/resume.out"
	grep -q '^    verifying default/web (checksum)$' "$out" || fail "no verifying line: $(cat "$out")"
	grep -Eq '^    verified default/web: 12 files and directories, 1 difference, ' "$out" ||
		fail "the change was not found: $(cat "$out")"
	grep -Eq '^    warning: claim default/web: 1 difference between the source and its copy \(sub/random.bin\); copying again$' "$out" ||
		fail "no warning naming the file: $(cat "$out")"
	grep -Eq '^    verified default/web: 12 files and directories, 0 differences, ' "$out" ||
		fail "not verified after copying again: $(cat "$out")"
	migrated "$sum"
}

# A source that something outside the cluster's pods keeps writing (here a loop on the host) differs
# from its copy after every pass: the differences remain after copying again, and the claim is not
# switched.
test_differences_that_remain_stop_before_the_swap() {
	local sum rc=0 writer dir
	sum=$(web_with_data)
	dir=$(claim_dir web)
	(while :; do echo tick >>"$dir/ticker"; sleep 0.01; done) &
	writer=$!
	vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/out" 2>"$SIM_DIR/err" || rc=$?
	kill "$writer"
	wait "$writer" 2>/dev/null || true
	rm -f "$dir/ticker"
	assert_eq 1 "$rc" "exit status: $(cat "$SIM_DIR/err")"
	grep -Eq 'claim default/web: [0-9]+ differences? between the source and its copy remain after copying again \(--verify=size-time\): ([^;]*, )?ticker[,; ].*the claim was not switched' \
		"$SIM_DIR/err" || fail "the error does not name the claim, the count and the paths: $(cat "$SIM_DIR/err")"
	assert_eq 2 "$(grep -Ec '^    verified default/web: [0-9]+ files and directories, [1-9][0-9]* differences?' "$SIM_DIR/out")" \
		"verifications that found differences"
	not_migrated "$sum"
}

# -q silences rsync: a verification that prints nothing proves nothing.
test_silenced_rsync_fails_the_verification() {
	local sum rc=0
	sum=$(web_with_data)
	vs_migrate --source-sc local --dest-sc shared --rsync-flags=-q >"$SIM_DIR/out" 2>"$SIM_DIR/err" || rc=$?
	assert_eq 1 "$rc" "exit status: $(cat "$SIM_DIR/err")"
	grep -q 'claim default/web: the verification.s rsync printed no summary' "$SIM_DIR/err" ||
		fail "the error does not say why: $(cat "$SIM_DIR/err")"
	not_migrated "$sum"
}

test_bad_verify_value_is_a_usage_error() {
	local rc=0
	vs_migrate --source-sc local --dest-sc shared --verify=sometimes >"$SIM_DIR/out" 2>"$SIM_DIR/err" || rc=$?
	assert_eq 2 "$rc" "exit status"
	grep -q -- '--verify sometimes: expected size-time or checksum' "$SIM_DIR/err" ||
		fail "no usage message: $(cat "$SIM_DIR/err")"
	grep -q -- '--verify size-time|checksum' <<<"$("$BIN/volshift" migrate --help)" || fail "--help does not list --verify"
	[ -z "$(kubectl get configmaps -A -o name | grep volshift-)" ] || fail "a journal was written"
}

e2e_main
