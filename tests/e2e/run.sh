#!/usr/bin/env bash
# Runs every end-to-end test file (tests/e2e/test_*.sh; some may be named: run.sh test_x.sh ...)
# and prints the closing line "e2e: N passed, N failed". E2E_JOBS files (default 2) run at once,
# each against its own volshift-sim: most of a test's time is spent waiting for the cluster's
# controllers, as on a real one, so two at a time fit a 2-core machine. A file's output is printed
# whole when it ends, so files that ran side by side do not interleave.
set -uo pipefail
cd "$(dirname "$0")"
jobs=${E2E_JOBS:-2}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	# the longest first (a few minutes each), so that two lanes end together; then the rest
	for f in test_s3.sh test_migrate_workloads.sh test_migrate_preflight.sh test_rollback.sh test_resume.sh test_plans.sh \
		test_probes.sh test_migrate_parallel.sh; do
		[ -e "$f" ] && files+=("$f")
	done
	for f in test_*.sh; do
		[[ " ${files[*]} " == *" $f "* ]] || files+=("$f")
	done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_file FILE: runs FILE, its output into $work/FILE.out, "PASSED FAILED SECONDS" into $work/FILE.result.
run_file() {
	local f=$1 start=$SECONDS p q
	E2E_RESULT=$work/$f.counts bash "$f" >"$work/$f.out" 2>&1 </dev/null
	read -r p q <"$work/$f.counts" 2>/dev/null || { p=0; q=1; echo "FAIL $f (did not finish)" >>"$work/$f.out"; }
	echo "$p $q $((SECONDS - start))" >"$work/$f.result"
}

# report FILE: prints a finished file's output and adds its counts.
passed=0
failed=0
report() {
	local f=$1 p q s
	read -r p q s <"$work/$f.result"
	echo "== $f"
	cat "$work/$f.out"
	echo "== $f: $s s"
	passed=$((passed + p))
	failed=$((failed + q))
}

declare -A running=()
for f in "${files[@]}"; do
	while [ ${#running[@]} -ge "$jobs" ]; do
		wait -n
		for r in "${!running[@]}"; do
			[ -e "$work/$r.result" ] && { report "$r"; unset "running[$r]"; }
		done
	done
	run_file "$f" &
	running[$f]=$!
done
wait
for r in "${!running[@]}"; do report "$r"; done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
