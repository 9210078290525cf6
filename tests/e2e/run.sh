#!/usr/bin/env bash
# Runs every end-to-end test file (tests/e2e/test_*.sh; one may be named: run.sh test_x.sh) and
# prints the closing line "e2e: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
passed=0
failed=0
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test_*.sh)
result=$(mktemp)
for f in "${files[@]}"; do
	start=$SECONDS
	echo "== $f"
	: >"$result"
	E2E_RESULT=$result bash "$f"
	read -r p q <"$result" || { p=0; q=1; echo "FAIL $f (did not finish)"; }
	passed=$((passed + p))
	failed=$((failed + q))
	echo "== $f: $((SECONDS - start)) s"
done
rm -f "$result"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
