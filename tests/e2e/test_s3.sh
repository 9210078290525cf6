#!/usr/bin/env bash
# End-to-end: volshift s3 sync between two moto_server instances on loopback, each checking SigV4
# against its own IAM user (a wrong secret is refused). What volshift copied is described on both
# sides by s3_tool.py (boto3), which is not volshift's code, and compared: every key, size, MD5,
# kept header and user metadata. Each test runs against a fresh volshift-sim too, which holds the
# Secrets of secret: credentials.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"

s3_require_moto
VS="$BIN/volshift"

# sync OUT [ARGS...]: volshift s3 sync SRC DST with both credentials files and --output json;
# events in OUT, stderr in OUT.err; returns volshift's exit status.
sync() {
	local out=$1
	shift
	"$VS" s3 sync "$SRC_URL" "${DEST_URL:-$DST_URL}" --source-credentials "$SIM_DIR/SRC.creds" \
		--dest-credentials "$SIM_DIR/DST.creds" --output json "$@" >"$out" 2>"$out.err"
}

# summary FILE FIELD: a field of the s3-summary event.
summary() { jq -r --arg f "$2" 'select(.event == "s3-summary") | .[$f]' "$1"; }

test_buckets_keys_metadata_then_a_second_run_copies_nothing() {
	s3_setup
	s3tool SRC fill many "" 1000 0 4096
	s3tool SRC put keys "with space/and more spaces.txt" --text "spaces" --type "text/plain; charset=utf-8"
	s3tool SRC put keys "unicode/ünïcødé/日本語/😀.bin" --size 3000 --type application/x-emoji
	s3tool SRC put keys "plus+and%percent%41=equals&amp;" --size 100 --meta owner=ops --meta note="a b+c"
	s3tool SRC put keys "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/leaf" --size 1
	s3tool SRC put keys "empty" --size 0
	s3tool SRC put keys "headers.gz" --size 500 --type application/gzip --header ContentEncoding=gzip \
		--header CacheControl="max-age=60" --header ContentDisposition="attachment; filename=x.gz" \
		--header ContentLanguage=de --meta Mixed-Case=Value
	s3tool SRC put third "one" --text one
	sync "$SIM_DIR/first.json" --parallel 8 || fail "the first sync failed: $(tail -3 "$SIM_DIR/first.json.err")"
	assert_eq 1007 "$(summary "$SIM_DIR/first.json" copied)" "objects copied by the first run"
	assert_eq 0 "$(summary "$SIM_DIR/first.json" failed)" "failed objects"
	assert_eq 3 "$(jq -s 'map(select(.event == "s3-bucket-created")) | length' "$SIM_DIR/first.json")" "buckets created"
	check_events "$SIM_DIR/first.json"
	equal_trees
	sync "$SIM_DIR/second.json" || fail "the second sync failed"
	assert_eq 0 "$(summary "$SIM_DIR/second.json" copied)" "objects copied by the second run"
	assert_eq 1007 "$(summary "$SIM_DIR/second.json" skipped)" "objects skipped by the second run"
	check_events "$SIM_DIR/second.json"
}

test_a_200_mib_object_goes_multipart_and_is_not_copied_again() {
	s3_setup
	s3tool SRC put big large.bin --size $((200 << 20)) --type application/octet-stream --meta origin=test
	s3tool SRC put big zero --size 0
	sync "$SIM_DIR/first.json" || fail "the sync failed: $(tail -3 "$SIM_DIR/first.json.err")"
	assert_eq true "$(jq -r 'select(.event == "s3-copied" and .key == "large.bin") | .multipart' "$SIM_DIR/first.json")" \
		"the 200 MiB object went as a multipart upload"
	equal_trees
	assert_eq '{"origin": "test"}' "$(s3tool DST head big large.bin | jq -c 'del(."volshift-source-etag")' | sed 's/:/: /')" \
		"the user metadata"
	[ -n "$(s3tool DST head big large.bin | jq -r '."volshift-source-etag" // empty')" ] ||
		fail "the multipart copy does not record its source's ETag"
	sync "$SIM_DIR/second.json" --verify checksum || fail "the second sync failed"
	assert_eq 0 "$(summary "$SIM_DIR/second.json" copied)" "objects copied by the second run"
	assert_eq 0 "$(jq -r 'select(.event == "s3-verified") | .differences' "$SIM_DIR/second.json")" "differences"
}

test_a_changed_object_is_copied_again_and_only_it() {
	s3_setup
	s3tool SRC fill data d/ 50 100 200
	sync "$SIM_DIR/first.json" || fail "the first sync failed"
	# the same size, other content: only the ETags tell
	s3tool SRC put data d/00007 --text "$(head -c 150 /dev/zero | tr '\0' x)"
	s3tool SRC put data d/00008 --size 99999
	sync "$SIM_DIR/second.json" || fail "the second sync failed"
	assert_eq 2 "$(summary "$SIM_DIR/second.json" copied)" "objects copied again"
	assert_eq "d/00007 d/00008" "$(jq -r 'select(.event == "s3-copied") | .key' "$SIM_DIR/second.json" | sort | xargs)" \
		"the objects copied again"
	equal_trees
}

test_delete_and_dry_run() {
	s3_setup
	s3tool SRC fill data a/ 20 10 100
	s3tool DST fill data extra/ 5 10 100
	sync "$SIM_DIR/dry.json" --dry-run --delete || fail "the dry run failed"
	assert_eq 20 "$(jq -s 'map(select(.event == "s3-would-copy")) | length' "$SIM_DIR/dry.json")" "would copy"
	assert_eq 5 "$(jq -s 'map(select(.event == "s3-would-delete")) | length' "$SIM_DIR/dry.json")" "would delete"
	check_events "$SIM_DIR/dry.json"
	assert_eq 5 "$(s3tool DST keys data | wc -l)" "objects on the destination after the dry run"
	sync "$SIM_DIR/nodelete.json" || fail "the sync without --delete failed"
	assert_eq 25 "$(s3tool DST keys data | wc -l)" "objects on the destination without --delete"
	sync "$SIM_DIR/delete.json" --delete || fail "the sync with --delete failed"
	assert_eq 5 "$(summary "$SIM_DIR/delete.json" deleted)" "objects deleted"
	equal_trees
}

test_wrong_credentials_are_refused_and_change_nothing() {
	local rc=0 secret
	s3_setup
	s3tool SRC fill data a/ 3 10 100
	secret="wrongSecretKey0123456789abcdefWRONGSECRET"
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$DST_AK" "$secret" >"$SIM_DIR/bad.creds"
	"$VS" s3 sync "$SRC_URL" "$DST_URL" --source-credentials "$SIM_DIR/SRC.creds" --dest-credentials "$SIM_DIR/bad.creds" \
		>"$SIM_DIR/bad.out" 2>"$SIM_DIR/bad.err" || rc=$?
	assert_eq 1 "$rc" "exit status with a wrong secret"
	grep -q "SignatureDoesNotMatch" "$SIM_DIR/bad.err" || fail "the error does not say why: $(cat "$SIM_DIR/bad.err")"
	grep -q "credentials were refused" "$SIM_DIR/bad.err" || fail "the error gives no advice: $(cat "$SIM_DIR/bad.err")"
	! grep -q -e "$secret" -e "$DST_SK" -e "$SRC_SK" "$SIM_DIR/bad.out" "$SIM_DIR/bad.err" ||
		fail "a secret key appears in volshift's output"
	assert_eq "" "$(s3tool DST tree)" "the destination after a refused sync"
	# a profile that is not in the file
	rc=0
	"$VS" s3 sync "$SRC_URL" "$DST_URL" --source-credentials "$SIM_DIR/SRC.creds" --dest-profile nosuch \
		--dest-credentials "$SIM_DIR/DST.creds" >/dev/null 2>"$SIM_DIR/profile.err" || rc=$?
	assert_eq 1 "$rc" "exit status with a missing profile"
	grep -q "no profile \[nosuch\]" "$SIM_DIR/profile.err" || fail "missing profile: $(cat "$SIM_DIR/profile.err")"
}

test_credentials_from_secrets() {
	s3_setup
	s3tool SRC put data k --text hello
	s3_secret default src-s3 "$SRC_AK" "$SRC_SK"
	echo '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "objects"}}' | kubectl apply -f - >/dev/null
	s3_secret objects dst-s3 "$DST_AK" "$DST_SK"
	"$VS" s3 sync "$SRC_URL/data" "$DST_URL/copy/under" --source-credentials secret:default/src-s3 \
		--dest-credentials secret:objects/dst-s3 --output json >"$SIM_DIR/secret.json" 2>"$SIM_DIR/secret.err" ||
		fail "the sync with Secrets failed: $(cat "$SIM_DIR/secret.err")"
	assert_eq "under/k" "$(s3tool DST keys copy)" "the key under the destination's prefix"
	! grep -q -e "$SRC_SK" -e "$DST_SK" "$SIM_DIR/secret.json" "$SIM_DIR/secret.err" || fail "a secret key in the output"
	local rc=0
	"$VS" s3 sync "$SRC_URL" "$DST_URL" --source-credentials secret:default/nosuch --dest-credentials "$SIM_DIR/DST.creds" \
		>/dev/null 2>"$SIM_DIR/missing.err" || rc=$?
	assert_eq 1 "$rc" "exit status with a missing Secret"
	grep -q "nosuch" "$SIM_DIR/missing.err" || fail "the error does not name the Secret: $(cat "$SIM_DIR/missing.err")"
}

test_killed_mid_sync_then_run_again_ends_equal() {
	local pid n
	s3_setup
	s3tool SRC fill data small/ 400 1000 20000
	s3tool SRC put data big.bin --size $((40 << 20))
	"$VS" s3 sync "$SRC_URL" "$DST_URL" --source-credentials "$SIM_DIR/SRC.creds" --dest-credentials "$SIM_DIR/DST.creds" \
		--parallel 2 --multipart-threshold 8Mi --part-size 5Mi --output json >"$SIM_DIR/killed.json" 2>&1 &
	pid=$!
	kill_mid_sync "$pid" "$SIM_DIR/killed.json" 100 '.event == "s3-copied"'
	n=$KILLED_AT
	[ "$n" -ge 1 ] && [ "$n" -lt 401 ] || fail "the sync was not killed mid-way ($n objects copied)"
	sync "$SIM_DIR/again.json" --parallel 4 --multipart-threshold 8Mi --part-size 5Mi ||
		fail "the run after the kill failed: $(tail -3 "$SIM_DIR/again.json.err")"
	[ "$(summary "$SIM_DIR/again.json" skipped)" -ge "$n" ] ||
		fail "the run after the kill skipped $(summary "$SIM_DIR/again.json" skipped), fewer than the $n copied before"
	equal_trees
	sync "$SIM_DIR/third.json" || fail "the third run failed"
	assert_eq 0 "$(summary "$SIM_DIR/third.json" copied)" "objects copied by a third run"
}

test_a_destination_answering_slowdown_to_one_request_in_ten_ends_equal() {
	local port
	s3_setup
	s3tool SRC fill data a/ 200 100 5000
	s3tool SRC put data big.bin --size $((12 << 20))
	port=$(free_port)
	"$MOTO_PY" "$S3_TESTS_DIR/s3_fault_proxy.py" "$port" "${DST_URL#http://}" 0.1 "$SIM_DIR/proxy.counts" &
	PROXY_PID=$!
	wait_for 10 "the fault proxy" curl -s -o /dev/null "http://127.0.0.1:$port/"
	DEST_URL="http://127.0.0.1:$port" sync "$SIM_DIR/faults.json" --multipart-threshold 8Mi --part-size 5Mi ||
		fail "the sync through the faults failed: $(tail -3 "$SIM_DIR/faults.json.err")"
	kill -TERM "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
	read -r _ requests _ injected <"$SIM_DIR/proxy.counts"
	echo "  proxy: $requests requests, $injected answered 503 SlowDown; volshift retried $(summary "$SIM_DIR/faults.json" retries)"
	[ "$injected" -ge 5 ] || fail "the proxy injected only $injected faults"
	[ "$(summary "$SIM_DIR/faults.json" retries)" -ge "$injected" ] || fail "fewer retries than faults"
	equal_trees
}

e2e_main
