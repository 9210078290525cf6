#!/usr/bin/env bash
# End-to-end: groups, parallelism and the warm copy. Each group's workloads are stopped only while
# that group is switched; up to --parallel groups are in flight; a warm copy runs beside the
# application while it runs, and the copy after the stop brings every change, deletions included.
. "$(dirname "$0")/migrate_lib.sh"

# beat_app NAME CLASS: a Deployment whose container appends the time (ms) to /data/beat every 0.1 s.
beat_app() {
	APP_SCRIPT='while true; do date +%s%3N >> /data/beat; sleep 0.1; done' app "$1" "$2" >/dev/null
}

# events_of TYPE FILE: the events of TYPE in a JSON event stream, one compact object per line.
events_of() {
	jq -c --arg t "$1" 'select(.event == $t)' "$2"
}

# covered BEATS FROM TO: BEATS (a file of ms times) has a beat in [FROM, TO] and no gap over 1 s there.
covered() {
	awk -v from="$2" -v to="$3" '
		$1 >= from - 1000 && $1 <= to + 1000 { if (prev && $1 - prev > 1000) gap = 1; prev = $1; if ($1 >= from && $1 <= to) n++ }
		END { exit !(n > 0 && !gap) }' "$1"
}

# How long a scale-down takes to reach a pod's process, as on a real cluster: the Deployment and
# ReplicaSet controllers' and the kubelet's watches, then up to one PLEG relist period (1 s) before
# the pod worker sends SIGTERM; with room for a loaded machine.
STOP_REACH_MS=2000

# paused BEATS STOPPED DOWN: BEATS (a file of ms times) pauses (no beat for over 1 s) from at most
# STOP_REACH_MS after STOPPED until at most the end of the downtime (STOPPED + DOWN, with a margin for
# the clocks). Only the start of the pause can be bounded tighter: the new pod's process may write
# before its kubelet reports it Ready (up to a relist period), and the downtime ends at Ready.
paused() {
	awk -v s="$2" -v d="$3" -v reach="$STOP_REACH_MS" '
		prev && $1 - prev > 1000 && $1 > s { found = 1; ok = prev <= s + reach && $1 <= s + d + 150; exit }
		{ prev = $1 }
		END { exit !(found && ok) }' "$1"
}

# With one group at a time, each workload kept running (its heartbeat never paused) through the
# whole downtime of the other group: only the group being switched is stopped.
test_workloads_outside_the_group_in_flight_keep_running() {
	beat_app one local
	beat_app two local
	ready deployment one
	ready deployment two
	vs_migrate --source-sc local --dest-sc shared --parallel 1 --output json >"$SIM_DIR/events.json" ||
		fail "migrate failed: $(tail -3 "$SIM_DIR/events.json")"
	local id g name other stopped down
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	"$BIN/volshift" status "$id" --output json >"$SIM_DIR/status.json"
	for g in 0 1; do
		name=$(jq -r ".steps[\"group/$g/start\"].downtimeMs | keys[0] | ltrimstr(\"Deployment default/\")" "$SIM_DIR/status.json")
		stopped=$(jq -r ".steps[\"group/$g/stop\"].stoppedMs" "$SIM_DIR/status.json")
		down=$(jq -r ".steps[\"group/$g/start\"].downtimeMs[\"Deployment default/$name\"]" "$SIM_DIR/status.json")
		[[ "$stopped" =~ ^[0-9]+$ && "$down" =~ ^[0-9]+$ ]] || fail "group $g: no stop time or downtime recorded"
		other=$([ "$name" = one ] && echo two || echo one)
		ready deployment "$other"
		cp "$(claim_dir "$other")/beat" "$SIM_DIR/beat-$other"
		covered "$SIM_DIR/beat-$other" "$stopped" $((stopped + down)) ||
			fail "$other did not run through the downtime of $name ($stopped + ${down} ms)"
		# and the group's own workload did stop: its heartbeat paused, from soon after the stop began
		# until the downtime ended (paused)
		cp "$(claim_dir "$name")/beat" "$SIM_DIR/beat-$name"
		paused "$SIM_DIR/beat-$name" "$stopped" "$down" || fail "$name did not pause through its downtime ($stopped + ${down} ms)"
	done
	assert_eq 2 "$(events_of group-done "$SIM_DIR/events.json" | wc -l)" "groups done"
	no_leftovers
}

# --parallel N: up to N groups in flight at once, never more; the warm copy of a node-local volume
# runs on its node, beside the application.
test_parallel_groups_in_flight_are_bounded() {
	local n
	for n in 1 2 3 4; do app "p$n" local >/dev/null; done
	for n in 1 2 3 4; do ready deployment "p$n"; done
	local sum
	fill_tree "$(claim_dir p3)"
	sum=$(tree_sum "$(claim_dir p3)")
	vs_migrate --source-sc local --dest-sc shared --parallel 2 --output json >"$SIM_DIR/events.json" ||
		fail "migrate failed: $(tail -3 "$SIM_DIR/events.json")"
	local most
	most=$(jq -r 'select(.event == "group-start" or .event == "group-done" or .event == "group-failed") | .event' \
		"$SIM_DIR/events.json" | awk '/start/ { n++; if (n > m) m = n } !/start/ { n-- } END { print m }')
	assert_eq 2 "$most" "most groups in flight with --parallel 2"
	assert_eq 2 "$(events_of done "$SIM_DIR/events.json" | jq .parallel)" "parallel in the done event"
	[ "$sum" = "$(tree_sum "$(claim_dir p3)")" ] || fail "data of p3 differs"
	for n in 1 2 3 4; do
		assert_eq shared "$(jp pvc "p$n" '{.spec.storageClassName}')" "class of p$n"
		ready deployment "p$n"
	done
	local c node warm
	while read -r c node; do
		warm=$(jq -r --arg c "$c" 'select(.event == "copy-start" and .pass == "warm" and .pvc == $c) | .node' \
			"$SIM_DIR/events.json" | head -n1)
		assert_eq "$node" "$warm" "node of the warm copy of $c"
	done < <(jq -r 'select(.event == "swapped") | .pvc' "$SIM_DIR/events.json" | while read -r c; do
		echo "$c $(jq -r --arg c "$c" 'select(.event == "copy-start" and .pass == "final" and .pvc == $c) | .node' \
			"$SIM_DIR/events.json" | head -n1)"
	done)
	no_leftovers
}

# A file changed while the warm copy ran arrives in its final version, a file deleted then is gone,
# and one created then is there: the copy after the stop sends what changed, deletions included.
# The warm copy of a network volume (ReadWriteOnce) runs on the application's node.
test_warm_copy_then_final_copy_brings_every_change() {
	app web shared >/dev/null
	ready deployment web
	local dir app_node
	dir=$(claim_dir web)
	app_node=$(kubectl get pods -l app=web -o jsonpath='{.items[0].spec.nodeName}')
	printf 'version 1\n' >"$dir/changed"
	printf 'doomed\n' >"$dir/deleted"
	head -c 2000000 /dev/urandom >"$dir/kept.bin"
	touch -d '2020-01-01' "$dir/changed" # the new version differs in time as well as in content
	printf 'AAAA\n' >"$dir/same-second"
	touch -d @1600000000 "$dir/same-second"
	VOLSHIFT_FAILPOINTS="warm:after=sleep:4000" vs_migrate --source-sc shared --dest-sc local --output json \
		>"$SIM_DIR/events.json" 2>"$SIM_DIR/migrate.err" &
	local pid=$!
	wait_for 60 "the warm copy to finish" jq -e 'select(.event == "copy-done" and .pass == "warm")' "$SIM_DIR/events.json"
	printf 'version 2, written while the warm copy waited\n' >"$dir/changed"
	rm "$dir/deleted"
	# the same size and the same second as the warm copy's version, another nanosecond
	printf 'BBBB\n' >"$dir/same-second"
	touch -d @1600000000.5 "$dir/same-second"
	printf 'born late\n' >"$dir/new"
	local kept
	kept=$(sha256sum <"$dir/kept.bin")
	wait "$pid" || fail "migrate failed: $(tail -3 "$SIM_DIR/migrate.err")"
	local now
	now=$(claim_dir web)
	[ "$now" != "$dir" ] || fail "the claim did not move"
	assert_eq "version 2, written while the warm copy waited" "$(cat "$now/changed")" "changed file"
	[ ! -e "$now/deleted" ] || fail "a file deleted during the warm copy is still on the new volume"
	assert_eq "born late" "$(cat "$now/new")" "file created during the warm copy"
	assert_eq BBBB "$(cat "$now/same-second")" "file rewritten at the same size within the same second"
	assert_eq "$kept" "$(sha256sum <"$now/kept.bin")" "unchanged file"
	assert_eq "$app_node" "$(events_of copy-start "$SIM_DIR/events.json" | jq -r 'select(.pass == "warm") | .node' | head -n1)" \
		"node of the warm copy"
	events_of copy-start "$SIM_DIR/events.json" | jq -e 'select(.pass == "final")' >/dev/null ||
		fail "no final pass after the stop"
	local sent
	sent=$(events_of copy-done "$SIM_DIR/events.json" | jq -r 'select(.pass == "final") | .transferred')
	# (on a slow machine a second warm pass may already have sent the changes: 0 is fine too)
	[ "$sent" -lt 2000000 ] || fail "the final pass sent $sent bytes: not only the changes"
	ready deployment web
	no_leftovers
}

# --no-warm-copy copies after the stop only; a ReadWriteOncePod claim gets a cold copy anyway, and
# the plan says why.
test_cold_copies_without_warm_copy_and_for_readwriteoncepod() {
	app solo shared default 10Mi ReadWriteOncePod >/dev/null
	kubectl annotate pvc solo kurl.sh/pvcmigrate-destinationaccessmode=ReadWriteOnce >/dev/null # local has no RWOP
	app web shared >/dev/null
	ready deployment solo
	ready deployment web
	local reason
	vs_migrate --source-sc shared --dest-sc local --dry-run --output json >"$SIM_DIR/plan.json" 2>&1 ||
		fail "the JSON dry run failed: $(cat "$SIM_DIR/plan.json")"
	reason=$(jq -r 'select(.plan) | .plan.groups[].claims[] | select(.name == "solo") | .coldCopy' "$SIM_DIR/plan.json" |
		head -n1)
	[[ "$reason" == *ReadWriteOncePod* ]] || fail "the plan does not say why solo gets a cold copy: '$reason'"
	vs_migrate --source-sc shared --dest-sc local --dry-run >"$SIM_DIR/plan.txt" 2>&1 ||
		fail "the text dry run failed: $(cat "$SIM_DIR/plan.txt")"
	grep -q "solo.*cold copy" "$SIM_DIR/plan.txt" ||
		fail "the text plan does not mark solo's cold copy: $(cat "$SIM_DIR/plan.txt")"
	vs_migrate --source-sc shared --dest-sc local --output json >"$SIM_DIR/events.json" || fail "migrate failed"
	assert_eq cold "$(events_of copy-start "$SIM_DIR/events.json" | jq -r 'select(.pvc == "solo") | .pass' | sort -u)" \
		"passes of solo"
	assert_eq "final warm" "$(events_of copy-start "$SIM_DIR/events.json" | jq -r 'select(.pvc == "web") | .pass' | sort -u | xargs)" \
		"passes of web"
	ready deployment solo
	app other shared >/dev/null
	ready deployment other
	vs_migrate --source-sc shared --dest-sc local --no-warm-copy --output json >"$SIM_DIR/cold.json" || fail "migrate failed"
	assert_eq cold "$(events_of copy-start "$SIM_DIR/cold.json" | jq -r .pass | sort -u)" "passes with --no-warm-copy"
	local rc=0
	"$BIN/volshift" migrate --source-sc shared --dest-sc local --parallel 0 2>"$SIM_DIR/usage.err" || rc=$?
	assert_eq 2 "$rc" "exit status of --parallel 0"
	grep -q -- "--parallel 0: expected a number of groups from 1 to" "$SIM_DIR/usage.err" || fail "$(cat "$SIM_DIR/usage.err")"
}

# The verification runs in the pod of the copy before it, after its rsync: one pod per copy pass,
# none more, and each claim's data arrives whole.
test_copy_and_its_verification_share_one_pod() {
	local name sum
	for name in one two; do app "$name" local >/dev/null; done
	for name in one two; do ready deployment "$name"; done
	for name in one two; do fill_tree "$(claim_dir "$name")" >/dev/null; done
	sum=$(for name in one two; do tree_sum "$(claim_dir "$name")"; done)
	VOLSHIFT_LOG=debug vs_migrate --source-sc local --dest-sc shared --output json >"$SIM_DIR/events.json" \
		2>"$SIM_DIR/debug.log" || fail "migrate failed: $(tail -3 "$SIM_DIR/debug.log")"
	for name in one two; do
		local passes pods
		passes=$(events_of copy-start "$SIM_DIR/events.json" | jq -r --arg n "$name" 'select(.pvc == $n) | .pass' | xargs)
		pods=$(grep -c "debug: create pods default/migrate-$name\$" "$SIM_DIR/debug.log")
		[[ "$passes" == *warm*final ]] || fail "$name: passes '$passes', expected warm ones then the final one"
		assert_eq "$(wc -w <<<"$passes")" "$pods" "pods created for the copies of $name"
		assert_eq "1 0" "$(events_of verify-done "$SIM_DIR/events.json" | jq -r --arg n "$name" \
			'select(.pvc == $n) | "\(.attempt) \(.differences)"')" "verification of $name"
	done
	assert_eq "$sum" "$(for name in one two; do tree_sum "$(claim_dir "$name")"; done)" "the data after the migration"
	no_leftovers
}

# A running application deletes files under the warm copy's rsync, which then exits 24 ("some
# files vanished"): that warm pass counts, the final pass after the stop brings the differences
# (sending less than the warm pass), and the copy is exact.
test_files_vanishing_during_the_warm_copy_do_not_spoil_it() {
	# each file lives for about 50 of the loop's turns: most of those rsync lists are gone when it
	# comes to them, after the bulk file
	APP_SCRIPT='mkdir -p /data/zz; i=0; while true; do echo $i > /data/zz/f$i; rm -f /data/zz/f$((i - 50)); i=$((i + 1)); done' \
		app churn local >/dev/null
	ready deployment churn
	head -c 40000000 /dev/urandom >"$(claim_dir churn)/aa-bulk"
	vs_migrate --source-sc local --dest-sc shared --output json >"$SIM_DIR/events.json" 2>"$SIM_DIR/stderr" ||
		fail "migrate failed: $(tail -3 "$SIM_DIR/stderr")"
	grep -q "files vanished during warm pass" <<<"$(events_of note "$SIM_DIR/events.json")" ||
		fail "no warm pass saw files vanish: the test proves nothing"
	! grep -q "warm copy of default/churn failed" <<<"$(events_of warning "$SIM_DIR/events.json")" ||
		fail "a warm pass that saw files vanish was taken for a failed warm copy"
	local warm final
	warm=$(events_of copy-done "$SIM_DIR/events.json" | jq -s '[.[] | select(.pass == "warm") | .transferred] | first')
	final=$(events_of copy-done "$SIM_DIR/events.json" | jq -s '[.[] | select(.pass == "final") | .transferred] | first')
	[ "$final" -lt "$warm" ] || fail "the final pass sent $final bytes, the first warm one $warm"
	assert_eq "1 0" "$(events_of verify-done "$SIM_DIR/events.json" | jq -r '"\(.attempt) \(.differences)"')" \
		"the final pass's verification"
	no_leftovers
}

# The final copy after a warm copy runs in a pod started before the stop: its deletion, once the
# application has stopped, starts the final pass, which brings every change (its verification
# finds no difference), and no pod is started during the downtime.
test_final_copy_runs_in_the_pod_armed_before_the_stop() {
	beat_app one local
	ready deployment one
	fill_tree "$(claim_dir one)" >/dev/null
	VOLSHIFT_LOG=debug vs_migrate --source-sc local --dest-sc shared --output json >"$SIM_DIR/events.json" \
		2>"$SIM_DIR/debug.log" || fail "migrate failed: $(tail -3 "$SIM_DIR/debug.log")"
	local final passes pods
	final=$(events_of copy-start "$SIM_DIR/events.json" | jq -r 'select(.pass == "final") | .armed')
	assert_eq true "$final" "the final pass ran in the armed pod"
	passes=$(events_of copy-start "$SIM_DIR/events.json" | wc -l)
	pods=$(grep -c "debug: create pods default/migrate-one\$" "$SIM_DIR/debug.log")
	assert_eq "$passes" "$pods" "pods created for the copies (the warm passes' and the armed one)"
	assert_eq "1 0" "$(events_of verify-done "$SIM_DIR/events.json" | jq -r '"\(.attempt) \(.differences)"')" \
		"the final pass's verification"
	# after the stop, volshift created no pod: the armed one was there already
	local stopped_line
	stopped_line=$(grep -n '"event":"workload-stopped"' "$SIM_DIR/events.json" | head -n1 | cut -d: -f1)
	[ -n "$stopped_line" ] || fail "no workload-stopped event"
	! grep -q '"event":"warning"' <<<"$(tail -n +"$stopped_line" "$SIM_DIR/events.json")" || fail "a warning after the stop"
	no_leftovers
}

# An armed pod that anything else touched before the stop (here: deleted while the application still
# wrote, which made it run its stages then) is never trusted: the final pass runs in a pod of its own
# after the stop, and the copy is complete.
test_an_armed_pod_touched_before_the_stop_is_not_trusted() {
	local how
	for how in delete annotate; do
		beat_app "$how" local
		ready deployment "$how"
		VOLSHIFT_FAILPOINTS=arm:done=sleep:4000 vs_migrate --source-sc local --dest-sc shared --pvc "default/$how" \
			--output json >"$SIM_DIR/events-$how.json" 2>"$SIM_DIR/stderr-$how" &
		local pid=$! armed=no
		for _ in $(seq 1 600); do
			kubectl logs "migrate-$how" 2>/dev/null | grep -q ' armed$' && { armed=yes; break; }
			sleep 0.1
		done
		[ "$armed" = yes ] || fail "$how: the final copy was not armed"
		if [ "$how" = delete ]; then
			kubectl delete pod "migrate-$how" --wait=false >/dev/null
		else
			kubectl annotate pod "migrate-$how" touched=yes >/dev/null
		fi
		wait "$pid" || fail "$how: migrate failed: $(tail -3 "$SIM_DIR/stderr-$how")"
		grep -q "armed final copy of default/$how cannot be started" <<<"$(events_of warning "$SIM_DIR/events-$how.json")" ||
			fail "$how: no warning that the armed pod was not used"
		assert_eq "1 0" "$(events_of verify-done "$SIM_DIR/events-$how.json" | jq -r '"\(.attempt) \(.differences)"')" \
			"$how: the final pass's verification"
		ready deployment "$how"
	done
	no_leftovers
}

e2e_main
