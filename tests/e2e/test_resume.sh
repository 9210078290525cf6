#!/usr/bin/env bash
# End-to-end: volshift killed at a failpoint (exit without cleanup), then `volshift resume` finishes
# the migration: every file equal, every claim Bound on the destination class, workloads back at
# their scale, nothing temporary left, no volume leaked, and the journal says done.
# RESUME_POINTS (space-separated) chooses the failpoints; `make faults` passes all of them.
. "$(dirname "$0")/migrate_lib.sh"

POINTS=${RESUME_POINTS:-"copy:before swap:original-deleted swap:prebound statefulset:deleted"}

# scenario_deployment / scenario_statefulset: deploy, fill, print the claims to check.
scenario_deployment() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	echo "default/web"
}

scenario_statefulset() {
	statefulset db local 3 >/dev/null
	ready statefulset db default 120
	local i
	for i in 0 1 2; do
		wait_for 30 "db-$i wrote" test -s "$(claim_dir "data-db-$i")/id"
		head -c 200000 /dev/urandom >"$(claim_dir "data-db-$i")/blob"
		echo "default/data-db-$i"
	done
}

# crash_then_resume SCENARIO POINT
crash_then_resume() {
	local scenario=$1 point=$2 claims c rc=0 id sums=()
	claims=$("scenario_$scenario")
	for c in $claims; do sums+=("$(tree_sum "$(claim_dir "${c#*/}" "${c%/*}")")"); done
	VOLSHIFT_FAILPOINTS="$point=crash" vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/first.out" 2>&1 || rc=$?
	id=$("$BIN/volshift" status --output json | jq -r .id | head -n1)
	if [ "$rc" = 86 ]; then
		"$BIN/volshift" resume --force "$id" >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	else
		assert_eq 0 "$rc" "first run without reaching $point: $(tail -3 "$SIM_DIR/first.out")"
	fi
	local k=0
	for c in $claims; do
		assert_eq shared "$(jp pvc "${c#*/}" '{.spec.storageClassName}' "${c%/*}")" "class of $c"
		assert_eq Bound "$(jp pvc "${c#*/}" '{.status.phase}' "${c%/*}")" "phase of $c"
		[ "${sums[$k]}" = "$(tree_sum "$(claim_dir "${c#*/}" "${c%/*}")")" ] || fail "data of $c differs after resume"
		k=$((k + 1))
	done
	case $scenario in
	deployment) ready deployment web ;;
	statefulset) ready statefulset db default 120 ;;
	esac
	assert_eq done "$("$BIN/volshift" status "$id" --output json | jq -r .phase)" "journal phase"
	no_leftovers
	local unbound
	unbound=$(kubectl get pv -o json | jq -r '.items[] | select(.status.phase != "Bound") | .metadata.name')
	[ -z "$unbound" ] || fail "volumes left unbound (leaked): $unbound"
}

for point in $POINTS; do
	case $point in
	statefulset:*) scenario=statefulset ;;
	*) scenario=deployment ;;
	esac
	eval "test_resume_${scenario}_after_crash_at_${point//[:-]/_}() { crash_then_resume $scenario $point; }"
done

e2e_main
