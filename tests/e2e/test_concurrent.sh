#!/usr/bin/env bash
# End-to-end: two `volshift migrate` of the same claims started at the same moment (a retried CI
# job, two operators). A claim belongs to at most one unfinished migration: one run moves every
# claim, the other refuses before changing anything, naming the first; no destination claim, copy
# pod or journal of the refused run is left. CONCURRENT_RUNS pairs (alternating directions, 3 by
# default; `make faults` runs more, also under API faults).
. "$(dirname "$0")/migrate_lib.sh"

# three Deployments with their data; prints the claims' sums.
three_apps() {
	local n
	for n in a1 a2 a3; do app "$n" local >/dev/null; done
	for n in a1 a2 a3; do
		ready deployment "$n"
		fill_tree "$(claim_dir "$n")"
	done
}

sums() {
	local n
	for n in a1 a2 a3; do tree_sum "$(claim_dir "$n")"; done
}

# race FROM TO: two runs at once; sets RC1 RC2 and the outputs in $SIM_DIR/race1.out race2.out.
race() {
	"$BIN/volshift" migrate --yes --source-sc "$1" --dest-sc "$2" >"$SIM_DIR/race1.out" 2>&1 &
	local p1=$!
	"$BIN/volshift" migrate --yes --source-sc "$1" --dest-sc "$2" >"$SIM_DIR/race2.out" 2>&1 &
	local p2=$!
	RC1=0 RC2=0
	wait "$p1" || RC1=$?
	wait "$p2" || RC2=$?
}

# settle TO: every migration left unfinished (only under API faults) is resumed; then every claim
# is on TO with its data, and nothing of either run is left.
settle() {
	local id
	for id in $("$BIN/volshift" status --output json | jq -r 'select(.phase != "done" and .phase != "rolled-back") | .id'); do
		"$BIN/volshift" resume --force "$id" >"$SIM_DIR/settle.out" 2>&1 || fail "resume $id: $(tail -3 "$SIM_DIR/settle.out")"
	done
	local n
	for n in a1 a2 a3; do
		assert_eq "$1" "$(jp pvc "$n" '{.spec.storageClassName}')" "class of $n"
		assert_eq "" "$(jp pvc "$n" '{.metadata.annotations.volshift\.io/migration}')" "mark left on $n"
		ready deployment "$n"
	done
	no_leftovers
}

pairs() {
	local runs=${CONCURRENT_RUNS:-3} i from=local to=shared before refused
	three_apps
	before=$(sums)
	for i in $(seq 1 "$runs"); do
		[ -z "${CONCURRENT_API_FAULTS:-}" ] || api_faults_on "$CONCURRENT_API_FAULTS"
		race "$from" "$to"
		[ -z "${CONCURRENT_API_FAULTS:-}" ] || api_faults_off >/dev/null
		refused=$({ grep -l "refused, nothing was changed: .*belongs to migration" "$SIM_DIR/race1.out" "$SIM_DIR/race2.out" || true; } | wc -l)
		if [ -z "${CONCURRENT_API_FAULTS:-}" ]; then
			assert_eq "0 1" "$(printf '%s\n' "$RC1" "$RC2" | sort -n | xargs)" "pair $i ($from -> $to): exit statuses"
			assert_eq 1 "$refused" "pair $i: runs refused because the other has the claims"
		fi
		[ "$refused" -le 1 ] || fail "pair $i: both runs refused"
		settle "$to"
		[ "$before" = "$(sums)" ] || fail "pair $i: the data changed"
		local journals
		journals=$("$BIN/volshift" status --output json | jq -s 'length')
		[ "$journals" -le "$i" ] || fail "pair $i: $journals journals, the refused runs' should be gone"
		from=$to to=$([ "$to" = shared ] && echo local || echo shared)
	done
}

test_two_migrations_of_the_same_claims_at_once() {
	pairs
}

e2e_main
