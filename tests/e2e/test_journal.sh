#!/usr/bin/env bash
# End-to-end: a migration's journal has no size a migration meets. A journal of 10,000 claims
# (tests/e2e/journal.c: a plan listing them, each with its steps and saved original) is written
# through the journal library and resumed, with every record read back; each of its ConfigMaps
# stays under a ConfigMap's 1 MiB, `volshift status` reads it, and deleting its head deletes the
# rest (owned by the head). A crash between creating a shard and counting it in the head leaves a
# shard that readers ignore and the resume deletes.
. "$(dirname "$0")/lib.sh"

JOURNAL_BIN="$E2E_ROOT/$BUILD/tests/e2e_journal"

# journal_pieces ID: the journal's ConfigMaps as a JSON List.
journal_pieces() {
	kubectl get configmaps -n volshift-system -l "volshift.io/migration=$1" -o json
}

# largest_piece ID: the most bytes of data (keys and values) in one of the journal's ConfigMaps.
largest_piece() {
	journal_pieces "$1" | jq '[.items[] | .data // {} | to_entries | map((.key | utf8bytelength) + (.value | utf8bytelength)) | add // 0] | max'
}

test_a_10000_claim_journal_is_written_and_resumed() {
	local id n most pieces
	id=$("$JOURNAL_BIN" write 10000) || fail "writing the journal failed"
	pieces=$(journal_pieces "$id" | jq '.items | length')
	[ "$pieces" -gt 20 ] || fail "a 10,000-claim journal in $pieces ConfigMaps"
	most=$(largest_piece "$id")
	[ "$most" -lt 1048576 ] || fail "a ConfigMap of the journal holds $most bytes"
	assert_eq "$pieces" "$(journal_pieces "$id" | jq "[.items[] | select(.metadata.labels[\"volshift.io/migration\"] == \"$id\")] | length")" \
		"every piece labelled with the migration"
	n=$("$JOURNAL_BIN" resume "$id" 10000) || fail "resume did not read every record back"
	assert_eq 10000 "$n" "claims read back"
	most=$(largest_piece "$id")
	[ "$most" -lt 1048576 ] || fail "after the resume, a ConfigMap of the journal holds $most bytes"
	"$BIN/volshift" status "$id" --output json >"$SIM_DIR/status.json" || fail "volshift status $id failed"
	assert_eq done "$(jq -r .phase "$SIM_DIR/status.json")" "phase"
	assert_eq 10000 "$(jq '[.steps | to_entries[] | select((.key | endswith("/swap")) and .value.state == "done")] | length' "$SIM_DIR/status.json")" \
		"swaps done as status reads them"
	assert_eq 10000 "$(jq '.objects | length' "$SIM_DIR/status.json")" "saved originals as status reads them"
	kubectl delete configmap -n volshift-system "volshift-$id" >/dev/null
	wait_for 120 "the journal's other ConfigMaps to go with its head (owner references)" no_pieces "$id"
}

# no_pieces ID: no ConfigMap of journal ID is left.
no_pieces() {
	[ "$(journal_pieces "$1" | jq '.items | length')" = 0 ]
}

test_a_shard_the_head_does_not_count_is_ignored_then_deleted() {
	local id rc=0 counted shards n
	VOLSHIFT_FAILPOINTS=journal:shard-created=crash@4 "$JOURNAL_BIN" write 2000 >"$SIM_DIR/write.out" || rc=$?
	assert_eq 86 "$rc" "exit status at the failpoint"
	id=$(kubectl get configmaps -n volshift-system -o json |
		jq -r '.items[] | select(.metadata.labels["volshift.io/journal-piece"] == "head") | .metadata.labels["volshift.io/migration"]')
	[ -n "$id" ] || fail "no journal head"
	counted=$(journal_pieces "$id" | jq -r ".items[] | select(.metadata.name == \"volshift-$id\") | .data.shards")
	shards=$(journal_pieces "$id" | jq '[.items[] | select(.metadata.labels["volshift.io/journal-piece"] == "records")] | length')
	assert_eq $((counted + 1)) "$shards" "shards created, one of them not counted"
	n=$("$JOURNAL_BIN" resume "$id" 0) || fail "resume after the crash failed"
	[ "$n" -ge 100 ] || fail "only $n claims read back, though 100 were written durably before the crash"
	counted=$(journal_pieces "$id" | jq -r ".items[] | select(.metadata.name == \"volshift-$id\") | .data.shards")
	shards=$(journal_pieces "$id" | jq '[.items[] | select(.metadata.labels["volshift.io/journal-piece"] == "records")] | length')
	assert_eq "$counted" "$shards" "shards after the resume, each counted"
}

e2e_main
