#!/usr/bin/env bash
# End-to-end: the API server goes away. A server that never answered is reported within seconds,
# naming its URL and the kubeconfig it came from; one that goes away during a migration (killed, or
# every request reset by volshift-sim's faults: a partition) is waited for, with lines saying so,
# for the --api-timeout budget: a shorter outage is ridden out and the migration finishes by itself,
# a longer one stops volshift with the migration's id and the status, resume and rollback commands,
# and `volshift resume` then finishes the migration with every file intact.
#
# Budgets here are small (--api-timeout), so the bounds asserted are loose: a run must end within
# a minute of an outage that an unbounded volshift would wait out for several.
. "$(dirname "$0")/migrate_lib.sh"

# free_port: a TCP port of 127.0.0.1 that nothing listens on.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_id: the migration's id, from the run's "==> migration ID (journal: ...)" line.
run_id() {
	sed -n 's/^==> migration \([0-9a-f]*\) (journal.*/\1/p' "$SIM_DIR/run.out" | head -n1
}

# ends_with_commands ID: the run's last lines give the status, resume and rollback commands of ID.
ends_with_commands() {
	local c
	for c in status resume rollback; do
		tail -n 5 "$SIM_DIR/run.out" | grep -q "volshift $c $1" ||
			fail "no '$c' command at the end: $(tail -n 8 "$SIM_DIR/run.out")" || return 1
	done
}

# wait_run SECONDS: waits for the background run, at most SECONDS; sets RUN_RC to its exit status.
wait_run() {
	local end=$((SECONDS + $1))
	RUN_RC=0
	while kill -0 "$MIG_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
	if kill -0 "$MIG_PID" 2>/dev/null; then
		kill -KILL "$MIG_PID"
		wait "$MIG_PID" 2>/dev/null || true
		fail "volshift still ran ${1}s later: $(tail -n 5 "$SIM_DIR/run.out")"
		return 1
	fi
	wait "$MIG_PID" || RUN_RC=$?
}

test_never_answering_server_is_reported_within_seconds() {
	local port cfg rc=0 t0
	port=$(free_port)
	cfg="$SIM_DIR/closed.kubeconfig"
	sed "s|server: .*|server: https://127.0.0.1:$port|" "$KUBECONFIG" >"$cfg"
	grep -q "127.0.0.1:$port" "$cfg" || fail "no server line in $(cat "$cfg")"
	t0=$SECONDS
	"$BIN/volshift" migrate --dry-run --source-sc local --dest-sc shared --kubeconfig "$cfg" \
		>"$SIM_DIR/run.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status: $(cat "$SIM_DIR/run.out")"
	[ $((SECONDS - t0)) -le 30 ] || fail "reported after $((SECONDS - t0))s"
	grep -q "the API server at https://127.0.0.1:$port (kubeconfig $cfg, context .*) does not answer (connection refused)" \
		"$SIM_DIR/run.out" || fail "the URL, the kubeconfig or the cause are not named: $(cat "$SIM_DIR/run.out")"
	grep -q "Check that the cluster is running" "$SIM_DIR/run.out" || fail "nothing says what to check"
	rc=0
	"$BIN/volshift" status --api-timeout 0 >"$SIM_DIR/usage.out" 2>&1 || rc=$?
	assert_eq 2 "$rc" "exit status of --api-timeout 0: $(cat "$SIM_DIR/usage.out")"
	grep -q "api-timeout 0: expected a duration of 1s or more" "$SIM_DIR/usage.out" || fail "$(cat "$SIM_DIR/usage.out")"
}

# The API server killed while volshift sleeps at its failpoint before the final copy: it says it is
# waiting, then stops within its budget with the commands. The cluster's state went with the server,
# so the resume is checked after a partition instead (below).
test_killed_api_server_stops_the_migration_with_the_commands() {
	local id t0
	filled_app web >/dev/null
	migrate_bg copy:before=sleep:3000 --api-timeout 6
	until_out "failpoint copy:before: sleeping"
	id=$(run_id)
	[ -n "$id" ] || fail "no migration id in: $(cat "$SIM_DIR/run.out")"
	kill -TERM "$SIM_PID" # it stops its pods and ends (e2e_main's sim_stop then finds it gone)
	wait_for 60 "volshift-sim to end" eval '! kill -0 "$SIM_PID"'
	t0=$SECONDS
	wait_run 60
	assert_eq 1 "$RUN_RC" "exit status"
	grep -q "warning: the API server at $SIM_URL does not answer (connection refused) since [0-9]* s; retrying for up to [0-9]* s more (--api-timeout 6s)" \
		"$SIM_DIR/run.out" || fail "no line says volshift waits for the server: $(cat "$SIM_DIR/run.out")"
	grep -q "has not answered for [0-9]* s (connection refused); gave up" "$SIM_DIR/run.out" ||
		fail "the stop is not explained: $(tail -n 8 "$SIM_DIR/run.out")"
	ends_with_commands "$id"
	echo "  (stopped $((SECONDS - t0))s after the server)"
}

# Every request reset for longer than the budget: volshift stops cleanly with the commands, and once
# the partition ends `volshift resume` finishes the migration with every file intact.
test_partition_longer_than_the_budget_stops_then_resume_finishes() {
	local sum id
	sum=$(filled_app web)
	migrate_bg copy:before=sleep:2000 --api-timeout 6
	until_out "failpoint copy:before: sleeping"
	id=$(run_id)
	sim_faults "rate=1,kinds=reset"
	wait_run 90 || { sim_faults off; return 1; }
	sim_faults off
	assert_eq 1 "$RUN_RC" "exit status"
	grep -q "warning: the API server at $SIM_URL does not answer (.*) since [0-9]* s; retrying for up to" \
		"$SIM_DIR/run.out" || fail "no line says volshift waits for the server: $(cat "$SIM_DIR/run.out")"
	ends_with_commands "$id"
	"$BIN/volshift" resume "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web after the resume"
	ready deployment web
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs after the resume"
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "phase after the resume"
	no_leftovers
}

# Every request reset for a while, well inside the budget: the migration waits it out and finishes.
test_partition_shorter_than_the_budget_is_ridden_out() {
	local sum injected
	sum=$(filled_app web)
	migrate_bg copy:before=sleep:1000 --api-timeout 120
	until_out "failpoint copy:before: sleeping"
	sim_faults "rate=1,kinds=reset"
	sleep 6
	injected=$(sim_fault_report | jq -r '.faults.reset // 0')
	sim_faults off
	wait_run 300
	assert_eq 0 "$RUN_RC" "exit status: $(tail -n 8 "$SIM_DIR/run.out")"
	[ "$injected" -gt 0 ] || fail "no request was reset during the partition"
	grep -q "warning: the API server at $SIM_URL does not answer" "$SIM_DIR/run.out" ||
		fail "no line says volshift waited for the server: $(cat "$SIM_DIR/run.out")"
	grep -q "note: the API server at $SIM_URL answers again, after [0-9]* s without an answer" "$SIM_DIR/run.out" ||
		fail "no line says the server answers again"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "class of web"
	ready deployment web
	[ "$sum" = "$(tree_sum "$(claim_dir web)")" ] || fail "data of web differs"
	no_leftovers
}

# A watch on a connection whose peer vanishes (in a network namespace of its own, whose loopback is
# taken down under it: no packet arrives any more, nothing closes the connection) gives up within
# its budget: keepalive probes end the connection, and the reconnection finds no server. Without
# them it would wait for the server to end the watch (volshift-sim: after 30 minutes).
test_a_watch_on_a_dead_connection_gives_up() {
	if ! unshare -n true 2>/dev/null || ! command -v ip >/dev/null; then
		echo "  (skipped: no network namespace or no ip command here)"
		return 0
	fi
	mkdir "$SIM_DIR/netns"
	timeout 200 unshare -n bash -s "$BIN" "$SIM_DIR/netns" "$E2E_ROOT/$BUILD/tests/e2e_watch_dead_peer" \
		>"$SIM_DIR/netns.out" 2>&1 <<'SH'
bin=$1 dir=$2 prog=$3
ip link set lo up
"$bin/volshift-sim" run --data-dir "$dir" --nodes 1 >"$dir/sim.out" 2>"$dir/sim.log" &
sim=$!
for _ in $(seq 100); do [ -s "$dir/sim.out" ] && break; sleep 0.1; done
KUBECONFIG="$dir/kubeconfig" timeout 150 "$prog" &
watch=$!
sleep 2
ip link set lo down
t0=$SECONDS
wait "$watch"
echo "exit $? $((SECONDS - t0)) s after the link went down"
ip link set lo up
kill -TERM "$sim"
wait "$sim"
SH
	grep -Eq "^watch returned -[0-9]+ after .*: watch configmaps in default: the API server at .* has not answered" \
		"$SIM_DIR/netns.out" || fail "the watch did not give up: $(cat "$SIM_DIR/netns.out")"
	grep -q "^exit 0 [0-9]* s after" "$SIM_DIR/netns.out" || fail "$(cat "$SIM_DIR/netns.out")"
	echo "  ($(grep '^exit' "$SIM_DIR/netns.out" | cut -d' ' -f3-))"
}

e2e_main
