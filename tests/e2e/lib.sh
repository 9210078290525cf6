# Shared helpers for the end-to-end tests: start volshift-sim in a temporary directory, drive it
# with kubectl, and assert. Each test file sources this, defines test_* functions and calls e2e_main.
set -uo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
BIN="$E2E_ROOT/$BUILD/bin"
E2E_FAILED=0
E2E_PASSED=0

# sim_start [NODES [FLAG...]]: starts volshift-sim (with more flags, e.g. --faults SPEC); sets
# SIM_DIR, SIM_PID, SIM_URL, KUBECONFIG and SIM_CURL_AUTH (curl's flags to trust the sim's CA and
# to be its admin, by the client certificate the kubeconfig holds).
sim_start() {
	local nodes=${1:-3} line
	shift $(($# > 0))
	SIM_DIR=$(mktemp -d /tmp/vs-e2e-XXXXXX)
	"$BIN/volshift-sim" run --data-dir "$SIM_DIR" --nodes "$nodes" "$@" >"$SIM_DIR/sim.out" 2>"$SIM_DIR/sim.log" &
	SIM_PID=$!
	for _ in $(seq 1 200); do
		line=$(head -n1 "$SIM_DIR/sim.out" 2>/dev/null)
		[ -n "$line" ] && break
		kill -0 "$SIM_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [[ "$line" != "volshift-sim ready: "* ]]; then
		echo "volshift-sim did not start; its log:" >&2
		tail -20 "$SIM_DIR/sim.log" >&2
		return 1
	fi
	SIM_URL=$(echo "$line" | awk '{print $3}')
	export KUBECONFIG="${line##*kubeconfig=}"
	SIM_CURL_AUTH=()
	[ -f "$SIM_DIR/pki/ca.crt" ] &&
		SIM_CURL_AUTH=(--cacert "$SIM_DIR/pki/ca.crt" --cert "$SIM_DIR/pki/admin.crt" --key "$SIM_DIR/pki/admin.key")
	return 0
}

# sim_curl ARG...: curl as volshift-sim's admin (after --next, repeat "${SIM_CURL_AUTH[@]}").
sim_curl() {
	curl "${SIM_CURL_AUTH[@]}" "$@"
}

# sim_stop: SIGTERM and wait; keeps the directory when KEEP=1 or a test failed.
sim_stop() {
	[ -n "${SIM_PID:-}" ] || return 0
	sim_halt
	sim_cleanup
}

# sim_halt: stops volshift-sim (TERM, then waits for it); its directory stays.
sim_halt() {
	[ -n "${SIM_PID:-}" ] || return 0
	kill -TERM "$SIM_PID" 2>/dev/null
	wait "$SIM_PID" 2>/dev/null
	SIM_RC=$?
	SIM_PID=
}

# sim_cleanup: removes the stopped volshift-sim's directory, unless KEEP=1 or a test failed.
sim_cleanup() {
	if [ "${KEEP:-0}" = 1 ] || [ "$E2E_FAILED" -gt 0 ]; then
		echo "  (volshift-sim data kept in $SIM_DIR)" >&2
	else
		rm -rf "$SIM_DIR"
	fi
}

# sim_sanitizer_reports: what a sanitizer (make sanitize, make tsan) reported in the stopped
# volshift-sim's log, if anything.
sim_sanitizer_reports() {
	grep -E -A4 '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: [A-Za-z]+Sanitizer)|: runtime error: ' "$SIM_DIR/sim.log" 2>/dev/null |
		head -30
}

# sim_faults SPEC: sets volshift-sim's API fault SPEC at runtime ("off" turns faults off).
sim_faults() {
	sim_curl -sS --fail-with-body -X PUT --data-binary "$1" "$SIM_URL/volshift-sim/faults" >/dev/null
}

# sim_fault_report: the fault SPEC in force and the counters, as JSON.
sim_fault_report() {
	sim_curl -sS --fail-with-body "$SIM_URL/volshift-sim/faults"
}

# api_faults_on RATE: until api_faults_off, every API request is faulted with probability RATE
# (500, 503, 429 with Retry-After, a reset connection or latency, each before the request takes
# effect) and a watch is cut short with probability 0.2: the transient faults clients must survive.
api_faults_on() {
	sim_faults "rate=$1,kinds=500:503:429:reset:latency,watch-cut=0.2"
}

# api_faults_off: faults off; prints the counters as one line
# "faults: requests=N injected=M (500=N 503=N ...) spec=SPEC".
api_faults_off() {
	local report
	report=$(sim_fault_report) && sim_faults off || return 1
	jq -r '"faults: requests=\(.requests) injected=\(.injected) ("
		+ ([.faults | to_entries[] | "\(.key)=\(.value)"] | join(" ")) + ") spec=\(.spec)"' <<<"$report"
}

fail() {
	echo "  FAIL: $*" >&2
	return 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

# wait_for SECONDS WHAT CMD...: retries CMD until it succeeds or the time is up.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out after ${secs}s waiting for $what"
}

# jp RESOURCE NAME JSONPATH [NS]: one field through kubectl's jsonpath.
jp() {
	kubectl get "$1" "$2" -n "${4:-default}" -o "jsonpath=$3" 2>/dev/null
}

# field_is RESOURCE NAME JSONPATH VALUE [NS]
field_is() {
	[ "$(jp "$1" "$2" "$3" "${5:-default}")" = "$4" ]
}

# The README's "JSON events" table, which every command's --output json follows (test_json_events.sh,
# test_s3.sh).

# event_schema: the README's table as {TYPE: {"req": [...], "opt": [...]}}.
event_schema() {
	awk '/^### JSON events/ { on = 1; next } on && /^### / { exit } on && /^\| `[a-z0-9-]+` \|/' "$E2E_ROOT/README.md" |
		jq -R -s 'split("\n") | map(select(length > 0) | split(" | ") |
			{key: (.[0] | ltrimstr("| ") | gsub("`"; "")),
			 value: (.[2] | rtrimstr(" |") | [scan("`([a-zA-Z]+\\??)`") | .[0]] |
				 {req: map(select(endswith("?") | not)), opt: map(select(endswith("?")) | rtrimstr("?"))})}) |
			from_entries'
}

# check_events FILE: every line of FILE is an event of the table with its fields (and only those,
# besides event, time, group, groups and migration); prints the offenders.
check_events() {
	local schema bad
	schema=$(event_schema)
	[ "$(jq length <<<"$schema")" -ge 30 ] || fail "the README's event table was not read: $schema"
	bad=$(jq -c --argjson s "$schema" '
		. as $e | ($s[$e.event // ""]) as $t |
		if $t == null then {unknown: $e}
		else ([$t.req[] | select($e[.] == null)]) as $missing |
		     ([$e | keys[] | select(. as $k | (["event", "time", "group", "groups", "migration"] + $t.req + $t.opt) |
			index($k) | not)]) as $extra |
		     if ($missing | length) > 0 or ($extra | length) > 0 then {event: $e.event, missing: $missing, extra: $extra}
		     else empty end end' "$1" 2>&1)
	[ -z "$bad" ] || fail "events of $1 that do not match the README's table: $bad"
}

# e2e_main: runs every test_* function of the calling file (or only those named in $E2E_TESTS,
# space-separated), each against a fresh volshift-sim (3 nodes; a file may define flags_TEST to
# print more volshift-sim flags for TEST).
e2e_main() {
	local t flags start rc reports
	for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
		[ -z "${E2E_TESTS:-}" ] || [[ " $E2E_TESTS " == *" $t "* ]] || continue
		flags=$(declare -F "flags_$t" >/dev/null && "flags_$t")
		# shellcheck disable=SC2086 # flags are words
		if ! sim_start 3 $flags; then
			echo "FAIL $t (volshift-sim did not start)"
			E2E_FAILED=$((E2E_FAILED + 1))
			continue
		fi
		start=$SECONDS
		# Not in an if: set -e must stay in force inside the test.
		( set -e; "$t" )
		rc=$?
		sim_halt
		reports=$(sim_sanitizer_reports)
		if [ -n "$reports" ]; then
			echo "  FAIL: volshift-sim's sanitizer reported:" >&2
			echo "$reports" | sed 's/^/    /' >&2
			rc=1
		fi
		if [ $rc -eq 0 ]; then
			echo "ok   $t ($((SECONDS - start)) s)"
			E2E_PASSED=$((E2E_PASSED + 1))
		else
			echo "FAIL $t ($((SECONDS - start)) s)"
			E2E_FAILED=$((E2E_FAILED + 1))
			tail -15 "$SIM_DIR/sim.log" | sed 's/^/  sim: /' >&2
		fi
		sim_cleanup
	done
	echo "$E2E_PASSED $E2E_FAILED" >"${E2E_RESULT:-/dev/null}"
	[ "$E2E_FAILED" -eq 0 ]
}
