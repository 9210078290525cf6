#!/usr/bin/env bash
# make bench: volshift's benchmark on volshift-sim. Prints a table on stdout and writes the same
# results as JSON to $BUILD/bench.json; progress goes to stderr, every command's output to
# $BUILD/bench-logs/. Each scenario runs on a fresh volshift-sim with 3 nodes:
#   1. parallel: 50 claims of 20 MiB in 25 Deployments (2 claims each), local -> shared, with
#      --parallel 1 and then --parallel 8: total time, speed-up, API requests per claim;
#   2. warm vs cold: one claim of 1 GiB (4096 files of 256 KiB) whose Deployment rewrites 40 of them
#      (10 MiB, ~1%) every second, migrated with --no-warm-copy and with the default warm copy:
#      the workload's downtime of each and the ratio;
#   3. throughput: the cold copy's MiB/s against plain `rsync -a` of the same tree on the same disk,
#      run just before the cold migration (both with a warm page cache);
#   4. memory: peak RSS of volshift for 1,000 claims (100 Deployments of 10 claims each): migrate
#      --dry-run, migrate --parallel 8 (stopped after BENCH_MANY_TIMEOUT seconds if not done),
#      status ID and status ID --output json;
#   5. downtime: the peer workload of issue 13 (one Deployment, one claim of 200 files and 20 MB on
#      class local, moved to shared), BENCH_PEER_RUNS times on volshift-sim's default timings: its
#      downtime and migration time, the downtime split into stop, final copy, verification, swap
#      and start (medians);
#   6. bind: how long a recreated claim takes to bind (tests/bench/bind.c) with volshift's
#      sequence, BENCH_BIND_SWAPS swaps one at a time and 8 at once, at --informer-delay-ms's
#      default and at 200; and with the sequence volshift used before (pre-bind without uid, then
#      create), 20 swaps, which a real PV controller mostly leaves to its 15-second resync.
# The data is generated once, deterministically (AES-CTR of zeros with fixed keys), into
# $BUILD/bench-cache and copied into the claims. Exit status: 0 when every benchmark ran, whether
# or not it met its target (the table says); 1 when a benchmark could not run.
#
#   7. s3: volshift s3 sync against rclone (run with env -u AWS_CA_BUNDLE, --transfers equal to
#      --parallel, --checksum) between the same two moto servers (tests/e2e/s3_lib.sh), 2,000
#      objects of 4-64 KiB and 4 of 100 MiB: objects/s, MiB/s, the ratio, a second no-change run's
#      time, peak RSS; and moto alone, a parallel PUT loop from curl, to show when moto is the
#      bottleneck. Needs moto (else the row says so) and rclone (Debian's; else its rows are n/a).
# Environment: BUILD (build), BENCH_ONLY="parallel warmcold many downtime bind s3" (a subset),
# BENCH_MANY_TIMEOUT (180), BENCH_MANY_READY (300: seconds for the 1,000 claims' Deployments to be
# ready), BENCH_MIGRATE_TIMEOUT (600, any other migration), BENCH_PEER_RUNS (5),
# BENCH_BIND_SWAPS (100), KEEP=1 (keep each sim's directory).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BUILD=${BUILD:-build}
# shellcheck disable=SC1091
. "$ROOT/tests/e2e/migrate_lib.sh"
# shellcheck disable=SC1091
. "$ROOT/tests/e2e/s3_lib.sh"

OUT_DIR="$ROOT/$BUILD"
CACHE="$OUT_DIR/bench-cache"
LOGS="$OUT_DIR/bench-logs"
JSON_OUT="$OUT_DIR/bench.json"
ONLY=${BENCH_ONLY:-parallel warmcold many downtime bind s3}
PEER_RUNS=${BENCH_PEER_RUNS:-5}
BIND_SWAPS=${BENCH_BIND_SWAPS:-100}
MANY_TIMEOUT=${BENCH_MANY_TIMEOUT:-180}
MANY_READY=${BENCH_MANY_READY:-300}
MIGRATE_TIMEOUT=${BENCH_MIGRATE_TIMEOUT:-600}
VS="$BIN/volshift"

WORK=$(mktemp -d /tmp/vs-bench-XXXXXX)
RESULTS="$WORK/results.jsonl" # one object per table row
DETAILS="$WORK/details.jsonl" # {"key":..., "value":...}: every other number
NOTES="$WORK/notes.txt"
: >"$RESULTS"
: >"$DETAILS"
: >"$NOTES"
ERRORS=0
BENCH_START=$SECONDS

cleanup() {
	moto_stop BSRC 2>/dev/null
	moto_stop BDST 2>/dev/null
	sim_stop 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
note() { log "note: $*"; printf '%s\n' "$*" >>"$NOTES"; }
error() {
	log "ERROR: $*"
	printf 'ERROR: %s\n' "$*" >>"$NOTES"
	ERRORS=$((ERRORS + 1))
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# calc FORMAT EXPR [VALUE...]: awk arithmetic; EXPR names the VALUEs a, b, c, d. Prints nothing
# when a VALUE is not a number or the result is not finite (n/a).
calc() {
	local fmt=$1 expr=$2 v out names=(a b c d) assign=() i=0
	shift 2
	for v in "$@"; do
		[[ "$v" =~ ^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]] || return 0
		assign+=(-v "${names[i]}=$v")
		i=$((i + 1))
	done
	out=$(awk "${assign[@]}" "BEGIN { printf \"$fmt\", $expr }" 2>/dev/null) || return 0
	[[ "$out" =~ ^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]] && printf '%s' "$out"
}
has() { [ -n "${1:-}" ] && [ "$1" != null ]; }

# detail KEY VALUE: a number (or null) for bench.json's details.
detail() {
	local v=${2:-}
	has "$v" || v=null
	jq -cn --arg k "$1" --argjson v "$v" '{key: $k, value: $v}' >>"$DETAILS"
}

# result ID LABEL VALUE UNIT SHOW-FORMAT [OP TARGET]: a row of the table (VALUE empty: n/a).
# OP is >= or <; the row is ok when VALUE OP TARGET.
result() {
	local id=$1 label=$2 value=${3:-} unit=$4 fmt=$5 op=${6:-} target=${7:-} ok=null show=n/a tshow=""
	has "$value" || value=""
	if [ -n "$value" ]; then
		show=$(calc "$fmt" a "$value")
		[ -n "$unit" ] && [ "$unit" != x ] && show="$show $unit"
		[ "$unit" = x ] && show="${show}x"
	fi
	if [ -n "$op" ]; then
		tshow="$op $target"
		[ -n "$unit" ] && [ "$unit" != x ] && tshow="$tshow $unit"
		[ "$unit" = x ] && tshow="${tshow}x"
		[ -n "$value" ] && ok=$(awk -v v="$value" -v t="$target" -v op="$op" \
			'BEGIN { r = op == ">=" ? v >= t : op == "<" ? v < t : 0; print r ? "true" : "false" }')
	fi
	jq -cn --arg id "$id" --arg name "$label" --arg value "$value" --arg unit "$unit" --arg op "$op" \
		--arg target "$target" --argjson ok "$ok" --arg show "$show" --arg tshow "$tshow" \
		'{id: $id, name: $name, value: (if $value == "" then null else ($value | tonumber) end), unit: $unit,
		  target: (if $op == "" then null else {op: $op, value: ($target | tonumber)} end), ok: $ok,
		  _show: $show, _tshow: $tshow}' >>"$RESULTS"
}

# events FILE: volshift's JSON event lines of FILE (anything else skipped).
events() { jq -c -R 'fromjson? | select(type == "object" and has("event"))' "$1" 2>/dev/null; }
# done_field FILE FIELD: a field of the last "done" event, or nothing.
done_field() { events "$1" | jq -r --arg f "$2" 'select(.event == "done") | .[$f] // empty' | tail -n1; }
sim_requests() { sim_curl -sS --max-time 10 "$SIM_URL/volshift-sim/faults" 2>/dev/null | jq -r '.requests // empty'; }

# start_sim TAG [FLAG...]: a fresh volshift-sim with 3 nodes (and FLAGs).
start_sim() {
	sim_stop 2>/dev/null
	if ! sim_start 3 "${@:2}"; then
		error "$1: volshift-sim did not start"
		return 1
	fi
	log "$1: volshift-sim at $SIM_URL ($SIM_DIR)"
}
# stop_sim TAG: stops it and keeps its log.
stop_sim() {
	[ -n "${SIM_DIR:-}" ] && [ -f "$SIM_DIR/sim.log" ] && cp "$SIM_DIR/sim.log" "$LOGS/$1.sim.log"
	sim_stop
}

# migrate TAG TIMEOUT ARGS...: volshift migrate local -> shared with --yes --output json and ARGS,
# events in $LOGS/TAG.json; sets MIG_RC, MIG_WALL_MS and MIG_SIM_REQ (requests the sim served
# during the run, as it counts them).
migrate() {
	local tag=$1 limit=$2 r0 r1 t0 c0 c1
	shift 2
	log "$tag: volshift migrate --source-sc local --dest-sc shared $*"
	r0=$(sim_requests)
	c0=$(sim_cpu)
	t0=$(now_ms)
	MIG_RC=0
	/usr/bin/time -f '%M %U %S' -o "$WORK/$tag.time" \
		timeout -k 10 "$limit" "$VS" migrate --yes --output json --source-sc local --dest-sc shared "$@" \
		>"$LOGS/$tag.json" 2>"$LOGS/$tag.err" </dev/null || MIG_RC=$?
	MIG_WALL_MS=$(($(now_ms) - t0))
	r1=$(sim_requests)
	c1=$(sim_cpu)
	MIG_SIM_REQ=""
	has "$r0" && has "$r1" && MIG_SIM_REQ=$((r1 - r0))
	cpu_details "$tag" "$c0" "$c1"
	log "$tag: exit $MIG_RC after $(calc %.1f "a / 1000" "$MIG_WALL_MS") s"
}

# sim_cpu: CPU seconds volshift-sim itself has used so far (not its pods').
sim_cpu() {
	[ -r "/proc/${SIM_PID:-0}/stat" ] || return 0
	sed 's/.*) //' "/proc/$SIM_PID/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}

# cpu_details TAG SIM-CPU-BEFORE SIM-CPU-AFTER: where the time of a volshift run went, from
# /usr/bin/time's "%M %U %S" in $WORK/TAG.time.
cpu_details() {
	local rss user sys
	read -r rss user sys < <(grep -E '^[0-9]+ ' "$WORK/$1.time" 2>/dev/null | tail -n1)
	detail "$1.volshiftRssKiB" "${rss:-}"
	detail "$1.volshiftCpuS" "$(calc %.2f "a + b" "${user:-}" "${sys:-}")"
	detail "$1.simCpuS" "$(calc %.2f "b - a" "$2" "$3")"
	log "$1: CPU: volshift $(calc %.1f "a + b" "${user:-}" "${sys:-}") s, volshift-sim $(calc %.1f "b - a" "$2" "$3") s; volshift peak RSS $(calc %.1f "a / 1024" "${rss:-}") MiB"
}

# ---------------------------------------------------------------------------------------------
# Deterministic data, generated once.

CACHE_VERSION=2
# stream IV BYTES: BYTES of AES-128-CTR keystream (fixed key, IV given): the same on every machine.
stream() {
	# openssl ends on SIGPIPE when head has had enough.
	{ openssl enc -aes-128-ctr -nosalt -K 766f6c73686966742d62656e63682d31 -iv "$1" -in /dev/zero 2>/dev/null || true; } |
		head -c "$2"
}
prepare_cache() {
	if [ "$(cat "$CACHE/version" 2>/dev/null)" = "$CACHE_VERSION" ]; then
		log "data: cached in $CACHE"
		return 0
	fi
	local t0 i
	t0=$(now_ms)
	log "data: generating 1 GiB (4096 x 256 KiB) and a 20 MiB claim in $CACHE"
	rm -rf "$CACHE"
	mkdir -p "$CACHE/tree1g" "$CACHE/claim20m/small" || return 1
	# 1 GiB in 4096 files of 256 KiB, f0000 ... f4095.
	stream 01 1073741824 | split -b 262144 -a 4 -d - "$CACHE/tree1g/f" || return 1
	# A claim of 20 MiB: 16 MiB, 3 MiB and 64 files of 16 KiB (1 MiB).
	stream 02 16777216 >"$CACHE/claim20m/big.bin" || return 1
	stream 03 3145728 >"$CACHE/claim20m/mid.bin" || return 1
	stream 04 1048576 | split -b 16384 -a 2 -d - "$CACHE/claim20m/small/s" || return 1
	# The peer workload's claim: 200 files of 100,000 bytes (20 MB).
	mkdir -p "$CACHE/peer200" && stream 05 20000000 | split -b 100000 -a 3 -d - "$CACHE/peer200/p" || return 1
	[ "$(find "$CACHE/peer200" -type f | wc -l)" = 200 ] || return 1
	touch -d '2024-01-01 00:00:00' "$CACHE"/tree1g/* "$CACHE"/claim20m/*.bin "$CACHE"/claim20m/small/* "$CACHE"/peer200/*
	[ "$(find "$CACHE/tree1g" -type f | wc -l)" = 4096 ] && [ "$(du -sb "$CACHE/tree1g" | awk '{print $1}')" -ge 1073741824 ] ||
		return 1
	i=$(du -sb --apparent-size "$CACHE/claim20m" | awk '{print $1}')
	[ "$i" -ge 20971520 ] || return 1
	echo "$CACHE_VERSION" >"$CACHE/version"
	log "data: generated in $(calc %.1f "(a - b) / 1000" "$(now_ms)" "$t0") s"
}

# claim_paths: "NAME PATH" of every bound claim in default (one call for all).
claim_paths() {
	kubectl get pv -o json | jq -r '.items[] | select(.spec.claimRef.namespace == "default")
		| "\(.spec.claimRef.name) \(.spec.local.path // .spec.hostPath.path // "")"'
}

# all_available COUNT SECONDS: COUNT Deployments in default are Available.
all_available() {
	local want=$1 secs=$2 end=$((SECONDS + $2)) n=0
	while [ $SECONDS -lt $end ]; do
		n=$(kubectl get deployments -o json 2>/dev/null | jq '[.items[] | select((.status.readyReplicas // 0) >= .spec.replicas)] | length')
		[ "${n:-0}" -ge "$want" ] && return 0
		sleep 1
	done
	error "only ${n:-0} of $want Deployments ready after ${secs}s"
	return 1
}

# deployments_yaml PREFIX COUNT CLAIMS SIZE: COUNT Deployments PREFIXnn, each with CLAIMS claims
# PREFIXnn-c (mounted at /data/c), on class local, as one multi-document YAML.
deployments_yaml() {
	local prefix=$1 count=$2 claims=$3 size=$4 d c name
	for d in $(seq 1 "$count"); do
		name=$(printf '%s%03d' "$prefix" "$d")
		for c in $(seq 0 $((claims - 1))); do
			printf 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s-%s, labels: {app: %s}}\n' "$name" "$c" "$name"
			printf 'spec: {storageClassName: local, accessModes: [ReadWriteOnce], resources: {requests: {storage: %s}}}\n---\n' "$size"
		done
		printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  replicas: 1\n' "$name"
		printf '  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n' "$name" "$name"
		printf '      containers:\n      - name: app\n        image: busybox\n        command: [/bin/sh, -c, "exec sleep 36000"]\n'
		printf '        volumeMounts:\n'
		for c in $(seq 0 $((claims - 1))); do printf '        - {name: c%s, mountPath: /data/%s}\n' "$c" "$c"; done
		printf '      volumes:\n'
		for c in $(seq 0 $((claims - 1))); do
			printf '      - {name: c%s, persistentVolumeClaim: {claimName: %s-%s}}\n' "$c" "$name" "$c"
		done
		printf -- '---\n'
	done
}

# claims_on CLASS: how many claims in default are of CLASS.
claims_on() { kubectl get pvc -o json | jq --arg c "$1" '[.items[] | select(.spec.storageClassName == $c and .status.phase == "Bound")] | length'; }

# ---------------------------------------------------------------------------------------------
# 1. Parallel copies: 50 claims of 20 MiB in 25 Deployments.

parallel_setup() {
	start_sim "parallel $1" || return 1
	deployments_yaml p 25 2 20Mi >"$WORK/parallel.yaml"
	kubectl apply -f "$WORK/parallel.yaml" >"$LOGS/parallel-$1.apply" 2>&1 || {
		error "parallel: kubectl apply failed: $(tail -2 "$LOGS/parallel-$1.apply")"
		return 1
	}
	all_available 25 120 || return 1
	local n=0 name path
	while read -r name path; do
		[ -d "$path" ] || continue
		cp -a "$CACHE/claim20m/." "$path/" && n=$((n + 1))
	done < <(claim_paths)
	[ "$n" = 50 ] || {
		error "parallel: filled $n claims, not 50"
		return 1
	}
	sync
}

# parallel_run P: one run; sets P_MS, P_REQ (per claim, volshift's count), P_SIMREQ (per claim).
parallel_run() {
	local p=$1 args=() pvcs
	P_MS="" P_REQ="" P_SIMREQ=""
	parallel_setup "$p" || {
		stop_sim "parallel-$p"
		return 1
	}
	[ "$p" != none ] && args=(--parallel "$p")
	migrate "parallel-$p" "$MIGRATE_TIMEOUT" "${args[@]}"
	if [ "$MIG_RC" != 0 ] || [ "$(claims_on shared)" != 50 ]; then
		error "parallel $p: migration failed (exit $MIG_RC, $(claims_on shared) of 50 claims on shared): $(tail -c 300 "$LOGS/parallel-$p.err")"
		stop_sim "parallel-$p"
		return 1
	fi
	pvcs=$(done_field "$LOGS/parallel-$p.json" pvcs)
	P_MS=$(done_field "$LOGS/parallel-$p.json" ms)
	if ! has "$P_MS"; then
		note "parallel $p: no ms in the done event; the wall time of the command is used"
		P_MS=$MIG_WALL_MS
	fi
	has "$pvcs" || pvcs=50
	local req
	req=$(done_field "$LOGS/parallel-$p.json" apiRequests)
	has "$req" && P_REQ=$(calc %.6g "a / b" "$req" "$pvcs")
	has "$req" || note "parallel $p: the done event has no apiRequests: API requests per PVC n/a"
	has "$MIG_SIM_REQ" && P_SIMREQ=$(calc %.6g "a / b" "$MIG_SIM_REQ" "$pvcs")
	detail "parallel$p.pvcs" "$pvcs"
	detail "parallel$p.bytes" "$(done_field "$LOGS/parallel-$p.json" bytes)"
	detail "parallel$p.ms" "$P_MS"
	detail "parallel$p.wallMs" "$MIG_WALL_MS"
	detail "parallel$p.apiRequests" "$req"
	detail "parallel$p.simRequests" "$MIG_SIM_REQ"
	detail "parallel$p.reportedParallel" "$(done_field "$LOGS/parallel-$p.json" parallel)"
	stop_sim "parallel-$p"
}

bench_parallel() {
	local ms1="" ms8="" req1="" req8="" sim1="" sim8="" label1="parallel 1"
	if [ "$HAS_PARALLEL" = 1 ]; then
		parallel_run 1 && { ms1=$P_MS req1=$P_REQ sim1=$P_SIMREQ; }
		parallel_run 8 && { ms8=$P_MS req8=$P_REQ sim8=$P_SIMREQ; }
	else
		note "volshift migrate has no --parallel: parallel 1 is a run without the flag (one group at a time), parallel 8 is n/a"
		label1="parallel 1 (no --parallel flag)"
		parallel_run none && { ms1=$P_MS req1=$P_REQ sim1=$P_SIMREQ; }
	fi
	result parallel1_time "$label1: total time" "$(calc %.6g "a / 1000" "$ms1")" s %.1f
	result parallel8_time "parallel 8: total time" "$(calc %.6g "a / 1000" "$ms8")" s %.1f
	result parallel_speedup "speed-up (parallel 8 vs 1)" "$(calc %.6g "a / b" "$ms1" "$ms8")" x %.1f ">=" 4
	result parallel1_api_per_pvc "API requests per PVC (parallel 1)" "$req1" "" %.1f "<" 20
	result parallel8_api_per_pvc "API requests per PVC (parallel 8)" "$req8" "" %.1f "<" 20
	result parallel1_sim_requests_per_pvc "  sim-counted requests per PVC (p 1)" "$sim1" "" %.1f
	result parallel8_sim_requests_per_pvc "  sim-counted requests per PVC (p 8)" "$sim8" "" %.1f
}

# ---------------------------------------------------------------------------------------------
# 2 and 3. Warm vs cold copy of a 1 GiB claim that keeps changing; the cold copy's throughput.

churn_yaml() {
	cat <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: churn, labels: {app: churn}}
spec: {storageClassName: local, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: churn}
spec:
  replicas: 1
  selector: {matchLabels: {app: churn}}
  template:
    metadata: {labels: {app: churn}}
    spec:
      containers:
      - name: app
        image: busybox
        # Once the data is in place, rewrites 40 of the 4096 files of 256 KiB (10 MiB, ~1%) every
        # second, in turn, each with the content of the file half-way round the ring.
        command:
        - /bin/sh
        - -c
        - |
          while [ ! -f /data/.filled ]; do sleep 0.2; done
          i=$(cat /data/.round 2>/dev/null || echo 0)
          while :; do
            k=0
            while [ $k -lt 40 ]; do
              n=$(( (i * 40 + k) % 4096 )); m=$(( (n + 2048) % 4096 ))
              cat /data/files/f$(printf %04d $m) > /data/files/f$(printf %04d $n)
              k=$((k + 1))
            done
            i=$((i + 1))
            echo $i > /data/.round
            sleep 1
          done
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: churn}}]
YAML
}

# churn_setup TAG: the 1 GiB claim in place and changing; sets CHURN_DIR.
churn_setup() {
	start_sim "$1" || return 1
	churn_yaml | kubectl apply -f - >"$LOGS/$1.apply" 2>&1 || {
		error "$1: kubectl apply failed: $(tail -2 "$LOGS/$1.apply")"
		return 1
	}
	ready deployment churn || {
		error "$1: the churn Deployment is not ready"
		return 1
	}
	CHURN_DIR=$(claim_dir churn)
	[ -d "$CHURN_DIR" ] || {
		error "$1: no directory for claim churn"
		return 1
	}
	if ! { mkdir -p "$CHURN_DIR/files" && cp -a "$CACHE/tree1g/." "$CHURN_DIR/files/"; }; then
		error "$1: copying 1 GiB into the claim failed"
		return 1
	fi
	sync
	touch "$CHURN_DIR/.filled"
	sleep 3 # a few rounds of changes before the migration
	[ -f "$CHURN_DIR/.round" ] || {
		error "$1: the churn workload does not change its data"
		return 1
	}
}

# rsync_time FLAGS...: ms of one rsync FLAGS of the claim's tree to a directory beside the sim's
# volumes (removed again and synced to disk).
rsync_time() {
	local dst="$SIM_DIR/rsync-baseline" t0 ms rc=0
	rm -rf "$dst"
	sync
	t0=$(now_ms)
	rsync "$@" "$CHURN_DIR/" "$dst/" 2>>"$LOGS/rsync-baseline.err" || rc=$?
	ms=$(($(now_ms) - t0))
	rm -rf "$dst"
	sync
	# 24: a file vanished under rsync (the workload is running).
	if [ "$rc" != 0 ] && [ "$rc" != 24 ]; then
		log "rsync baseline: rsync $* exited $rc: $(tail -2 "$LOGS/rsync-baseline.err")"
		return 1
	fi
	echo "$ms"
}

# median N...: the median of the numbers.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# rsync_baseline: the median of 3 runs of plain rsync -a of the claim's tree, and of 3 with
# volshift's own flags; sets RSYNC_MS, RSYNC_FLAGS_MS and RSYNC_BYTES.
rsync_baseline() {
	local i plain=() flags=() t
	RSYNC_MS="" RSYNC_FLAGS_MS=""
	for i in 1 2 3; do
		t=$(rsync_time -a) && plain+=("$t")
		t=$(rsync_time -a -H -A -X -S --numeric-ids --delete) && flags+=("$t")
	done
	RSYNC_BYTES=$(du -sb --apparent-size "$CHURN_DIR" | awk '{print $1}')
	[ ${#plain[@]} -gt 0 ] && RSYNC_MS=$(median "${plain[@]}")
	[ ${#flags[@]} -gt 0 ] && RSYNC_FLAGS_MS=$(median "${flags[@]}")
	[ ${#plain[@]} -gt 0 ] || error "rsync baseline: rsync -a failed 3 times (see $LOGS/rsync-baseline.err)"
	log "rsync baseline: rsync -a ${plain[*]} ms, with volshift's flags ${flags[*]} ms"
	detail rsync.runsMs "$(printf '%s\n' "${plain[@]}" | jq -sc .)"
	detail rsyncFlags.runsMs "$(printf '%s\n' "${flags[@]}" | jq -sc .)"
}

# churn_run MODE: MODE cold (--no-warm-copy, or the default when volshift has no such flag, with the
# rsync baseline just before) or warm (the default); sets DOWN_MS, COPY_BYTES, COPY_MS.
churn_run() {
	local mode=$1 tag="churn-$1" args=()
	DOWN_MS="" COPY_BYTES="" COPY_MS=""
	churn_setup "$tag" || {
		stop_sim "$tag"
		return 1
	}
	if [ "$mode" = cold ]; then
		log "$tag: rsync of the same tree, 3 times plain and 3 times with volshift's flags (baseline)"
		rsync_baseline
		[ "$HAS_NO_WARM" = 1 ] && args=(--no-warm-copy)
	fi
	migrate "$tag" "$MIGRATE_TIMEOUT" "${args[@]}"
	if [ "$MIG_RC" != 0 ] || [ "$(claims_on shared)" != 1 ]; then
		error "$tag: migration failed (exit $MIG_RC): $(tail -c 300 "$LOGS/$tag.err")"
		stop_sim "$tag"
		return 1
	fi
	DOWN_MS=$(events "$LOGS/$tag.json" | jq -r 'select(.event == "workload-ready" and .name == "churn") | .downtimeMs // empty' | tail -n1)
	# The cold pass: the first copy-done marked cold, or, without the mark, the first one.
	local cd
	cd=$(events "$LOGS/$tag.json" | jq -c 'select(.event == "copy-done" and ((.pass // "cold") == "cold"))' | head -n1)
	if [ -n "$cd" ]; then
		COPY_BYTES=$(jq -r '.transferred // .bytes // empty' <<<"$cd")
		COPY_MS=$(jq -r '.ms // empty' <<<"$cd")
	fi
	events "$LOGS/$tag.json" | jq -c 'select(.event == "copy-done")' | sed "s/^/  $tag copy-done: /" >&2
	detail "$mode.downtimeMs" "$DOWN_MS"
	detail "$mode.totalMs" "$(done_field "$LOGS/$tag.json" ms)"
	detail "$mode.wallMs" "$MIG_WALL_MS"
	detail "$mode.apiRequests" "$(done_field "$LOGS/$tag.json" apiRequests)"
	detail "$mode.copyPasses" "$(events "$LOGS/$tag.json" | jq -s '[.[] | select(.event == "copy-done")] | length')"
	detail "$mode.copyPassesMs" "$(events "$LOGS/$tag.json" | jq -sc '[.[] | select(.event == "copy-done") | .ms]')"
	detail "$mode.copyPassesTransferred" "$(events "$LOGS/$tag.json" | jq -sc '[.[] | select(.event == "copy-done") | .transferred // .bytes]')"
	detail "$mode.verifyMs" "$(events "$LOGS/$tag.json" | jq -s '[.[] | select(.event == "verify-done") | .ms // 0] | add // 0')"
	detail "$mode.churnRounds" "$(cat "$(claim_dir churn)/.round" 2>/dev/null)"
	stop_sim "$tag"
}

bench_warmcold() {
	local cold="" warm="" copy_mibs="" rsync_mibs="" flags_mibs=""
	[ "$HAS_NO_WARM" = 1 ] || note "volshift migrate has no --no-warm-copy: the cold run is the default run, the warm run is n/a"
	if churn_run cold; then
		cold=$DOWN_MS
		copy_mibs=$(calc %.6g "a / 1048576 / (b / 1000)" "$COPY_BYTES" "$COPY_MS")
		detail cold.copyBytes "$COPY_BYTES"
		detail cold.copyMs "$COPY_MS"
	fi
	rsync_mibs=$(calc %.6g "a / 1048576 / (b / 1000)" "${RSYNC_BYTES:-}" "${RSYNC_MS:-}")
	flags_mibs=$(calc %.6g "a / 1048576 / (b / 1000)" "${RSYNC_BYTES:-}" "${RSYNC_FLAGS_MS:-}")
	detail rsync.bytes "${RSYNC_BYTES:-}"
	detail rsync.ms "${RSYNC_MS:-}"
	detail rsyncFlags.ms "${RSYNC_FLAGS_MS:-}"
	if [ "$HAS_NO_WARM" = 1 ] && churn_run warm; then
		warm=$DOWN_MS
	fi
	result cold_downtime "cold copy: downtime" "$(calc %.6g "a / 1000" "$cold")" s %.2f
	result warm_downtime "warm copy: downtime" "$(calc %.6g "a / 1000" "$warm")" s %.2f
	result warm_cold_ratio "downtime warm / cold" "$(calc %.6g "100 * a / b" "$warm" "$cold")" % %.1f "<" 10
	result copy_throughput "cold copy throughput (volshift)" "$copy_mibs" MiB/s %.0f
	result rsync_throughput "rsync -a throughput (baseline)" "$rsync_mibs" MiB/s %.0f
	result rsync_flags_throughput "  rsync -a -HAXS --numeric-ids --delete" "$flags_mibs" MiB/s %.0f
	result throughput_ratio "throughput volshift / rsync" "$(calc %.6g "100 * a / b" "$copy_mibs" "$rsync_mibs")" % %.0f ">=" 80
}

# ---------------------------------------------------------------------------------------------
# 4. Peak RSS for 1,000 claims.

# rss TAG CMD...: runs CMD under /usr/bin/time; sets RSS_KIB and RSS_RC, output in $LOGS/TAG.out.
rss() {
	local tag=$1 c0
	shift
	RSS_RC=0
	c0=$(sim_cpu)
	/usr/bin/time -f '%M %U %S' -o "$WORK/$tag.time" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err" </dev/null || RSS_RC=$?
	RSS_KIB=$(grep -E '^[0-9]+ ' "$WORK/$tag.time" 2>/dev/null | tail -n1 | awk '{print $1}')
	cpu_details "$tag" "$c0" "$(sim_cpu)"
}

# rss_sampler SHELL-PID SECONDS: every SECONDS, "ELAPSED RSS-KIB" of the volshift that SHELL-PID
# runs as /usr/bin/time -> timeout -> volshift.
rss_sampler() {
	local start=$SECONDS p kib
	while sleep "$2"; do
		p=$(pgrep -P "$1" -x time | head -n1)
		[ -n "$p" ] && p=$(pgrep -P "$p" | head -n1)
		[ -n "$p" ] && p=$(pgrep -P "$p" | head -n1)
		[ -n "$p" ] || continue
		kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$kib" ] && echo "$((SECONDS - start)) $kib"
	done
}

# The 1,000 claims are in 100 Deployments. Planning them all is measured with a dry run, then
# one migration of all of them (its journal spread over ConfigMaps, so no batches) and its status.
bench_many() {
	local dry="" mig="" st="" stj="" id switched args=(--parallel 8) t0 n name path sampler planned=0
	if ! start_sim many; then
		:
	elif ! { deployments_yaml m 100 10 1Mi >"$WORK/many.yaml" && t0=$(now_ms) &&
		kubectl apply -f "$WORK/many.yaml" >"$LOGS/many.apply" 2>&1; }; then
		error "many: kubectl apply failed: $(tail -2 "$LOGS/many.apply")"
	elif all_available 100 "$MANY_READY"; then
		log "many: 1000 claims in 100 Deployments ready in $(calc %.1f "(a - b) / 1000" "$(now_ms)" "$t0") s"
		n=0
		while read -r name path; do
			[ -d "$path" ] && printf 'claim %s\n' "$name" >"$path/id" && n=$((n + 1))
		done < <(claim_paths)
		[ "$n" = 1000 ] || error "many: $n claims with data, not 1000"

		log "many: volshift migrate --dry-run (1000 claims)"
		rss many-dry-run "$VS" migrate --dry-run --output json --source-sc local --dest-sc shared
		n=$(events "$LOGS/many-dry-run.out" | jq 'select(.event == "plan") | [.plan.groups[].claims[]] | length' | tail -n1)
		if [ "${n:-0}" = 1000 ] && [ "$RSS_RC" = 0 ]; then
			dry=$RSS_KIB
			planned=1
		else
			error "many: dry run: exit $RSS_RC, ${n:-no} claims planned: $(tail -c 300 "$LOGS/many-dry-run.err")"
		fi
	fi
	if [ "$planned" = 1 ]; then
		[ "$HAS_PARALLEL" = 1 ] || args=()
		log "many: volshift migrate ${args[*]} of the 1000 claims, one migration (stopped after ${MANY_TIMEOUT}s)"
		t0=$(now_ms)
		rss_sampler $$ 10 >"$WORK/many-rss.txt" &
		sampler=$!
		rss many-migrate timeout -k 10 "$MANY_TIMEOUT" "$VS" migrate --yes --output json --source-sc local --dest-sc shared \
			"${args[@]}"
		kill "$sampler" 2>/dev/null
		wait "$sampler" 2>/dev/null
		detail many.migrateWallMs "$(($(now_ms) - t0))"
		detail many.migrateRssSamples "$(jq -Rsc '[split("\n")[] | select(. != "") | split(" ") | {s: (.[0] | tonumber), kib: (.[1] | tonumber)}]' "$WORK/many-rss.txt")"
		log "many: volshift's RSS every 10 s (KiB): $(awk '{ printf "%s ", $2 }' "$WORK/many-rss.txt")"
		detail many.migrateExit "$RSS_RC"
		cp "$LOGS/many-migrate.out" "$LOGS/many-migrate.json"
		case "$RSS_RC" in
		0) mig=$RSS_KIB ;;
		124 | 137)
			mig=$RSS_KIB
			note "the 1000-claim migration was stopped after ${MANY_TIMEOUT}s: its peak RSS and the status below are of a partly done migration"
			;;
		*) error "many: migrate: exit $RSS_RC: $(tail -c 300 "$LOGS/many-migrate.err")" ;;
		esac
		local req pvcs
		req=$(done_field "$LOGS/many-migrate.out" apiRequests)
		pvcs=$(done_field "$LOGS/many-migrate.out" pvcs)
		has "$req" && has "$pvcs" && detail many.apiRequestsPerPvc "$(calc %.6g "a / b" "$req" "$pvcs")"

		id=$("$VS" status --output json 2>/dev/null | jq -r '.id // empty' 2>/dev/null | head -n1)
		if [ -z "$id" ]; then
			error "many: no migration journal found for status"
		else
			detail many.journalConfigMaps "$(kubectl get configmaps -n volshift-system -l "volshift.io/migration=$id" -o name | wc -l)"
			rss many-status "$VS" status "$id"
			if [ "$RSS_RC" = 0 ]; then st=$RSS_KIB; else error "many: status $id: exit $RSS_RC: $(tail -c 300 "$LOGS/many-status.err")"; fi
			rss many-status-json "$VS" status "$id" --output json
			if [ "$RSS_RC" = 0 ]; then
				stj=$RSS_KIB
				switched=$(jq -s '[.[0].steps // {} | to_entries[] | select((.key | test("^claim/.*/swap$")) and .value.state == "done")] | length' \
					"$LOGS/many-status-json.out" 2>/dev/null)
				detail many.phase "$(jq -s '.[0].phase' "$LOGS/many-status-json.out" 2>/dev/null)"
				detail many.claimsSwitched "$switched"
				log "many: status of migration $id: phase $(jq -rs '.[0].phase' "$LOGS/many-status-json.out"), ${switched:-?} of 1000 claims switched"
				[ "${switched:-0}" = 1000 ] || note "volshift status was measured on a migration with ${switched:-?} of 1000 claims switched"
			else
				error "many: status $id --output json: exit $RSS_RC: $(tail -c 300 "$LOGS/many-status-json.err")"
			fi
		fi
	fi
	stop_sim many
	result rss_dry_run "peak RSS: migrate --dry-run, 1000 PVCs" "$(calc %.6g "a / 1024" "$dry")" MiB %.1f "<" 50
	result rss_migrate "peak RSS: migrate${args[*]:+ ${args[*]}}, 1000 PVCs" "$(calc %.6g "a / 1024" "$mig")" MiB %.1f "<" 50
	result rss_status "peak RSS: status ID, 1000-claim run" "$(calc %.6g "a / 1024" "$st")" MiB %.1f "<" 50
	result rss_status_json "peak RSS: status ID --output json" "$(calc %.6g "a / 1024" "$stj")" MiB %.1f "<" 50
}

# ---------------------------------------------------------------------------------------------
# 5. The peer workload's downtime, part by part.

# peer_run N: one migration of the peer workload on a fresh sim; appends its downtime, migration
# time and downtime parts (ms) to $WORK/peer.jsonl.
peer_run() {
	local tag="peer-$1" dir
	start_sim "$tag" || return 1
	app peer local >"$LOGS/$tag.apply" 2>&1 && ready deployment peer || {
		error "$tag: the peer Deployment is not ready"
		stop_sim "$tag"
		return 1
	}
	dir=$(claim_dir peer)
	cp -a "$CACHE/peer200/." "$dir/" && sync
	migrate "$tag" "$MIGRATE_TIMEOUT"
	if [ "$MIG_RC" != 0 ]; then
		error "$tag: migration failed (exit $MIG_RC): $(tail -c 300 "$LOGS/$tag.err")"
		stop_sim "$tag"
		return 1
	fi
	events "$LOGS/$tag.json" | jq -c --argjson wall "$MIG_WALL_MS" 'select(.event == "group-done") |
		{downtime: .downtimeMs["Deployment default/peer"], wall: $wall} + .downtimePartsMs' >>"$WORK/peer.jsonl"
	stop_sim "$tag"
}

# peer_median FIELD: the median of FIELD over the peer runs.
peer_median() {
	# shellcheck disable=SC2046 # the values are words
	median $(jq -r --arg f "$1" '.[$f] // empty' "$WORK/peer.jsonl")
}

bench_downtime() {
	local n f
	: >"$WORK/peer.jsonl"
	for n in $(seq 1 "$PEER_RUNS"); do peer_run "$n"; done
	detail peer.runs "$(jq -sc . "$WORK/peer.jsonl")"
	result peer_downtime "peer workload: downtime (median of $PEER_RUNS)" "$(calc %.6g "a / 1000" "$(peer_median downtime)")" \
		s %.2f "<" 2
	for f in stop copy verify swap start; do
		result "peer_$f" "  of which $f" "$(calc %.6g "a / 1000" "$(peer_median "$f")")" s %.2f
	done
	result peer_wall "peer workload: migration time (median)" "$(calc %.6g "a / 1000" "$(peer_median wall)")" s %.1f
}

# ---------------------------------------------------------------------------------------------
# 6. The bind time of a recreated claim.

# bind_run TAG SEQUENCE COUNT PARALLEL [SIM FLAG...]: COUNT swaps by bench_bind on a fresh sim;
# sets BIND_MS (the times, one per line) and BIND_FAILED (how many failed).
bind_run() {
	local tag=$1 seq=$2 count=$3 par=$4
	BIND_MS="" BIND_FAILED=""
	start_sim "$tag" "${@:5}" || return 1
	echo '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bb"}}' | kubectl apply -f - >/dev/null
	log "$tag: $count swaps by the $seq sequence, $par at once"
	timeout -k 10 "$MIGRATE_TIMEOUT" "$BIN/../tests/bench_bind" "$seq" "$count" "$par" bb >"$LOGS/$tag.out" \
		2>"$LOGS/$tag.err"
	stop_sim "$tag"
	BIND_MS=$(awk '$1 == "ms" { print $2 }' "$LOGS/$tag.out")
	BIND_FAILED=$(grep -c '^failed' "$LOGS/$tag.out")
	[ "$BIND_FAILED" = 0 ] || error "$tag: $BIND_FAILED swaps failed: $(grep -m1 '^failed' "$LOGS/$tag.out")"
	# shellcheck disable=SC2086 # the times are words
	detail "$tag.ms" "$(printf '%s\n' $BIND_MS | jq -sc 'sort | {n: length, min: .[0], median: .[length / 2 | floor],
		p99: .[(length * 0.99 | ceil) - 1], max: .[-1], over1s: (map(select(. > 1000)) | length)}')"
	log "$tag: $(printf '%s\n' $BIND_MS | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "min %d ms, median %d ms, max %d ms, %d of %d over 1 s", v[1], v[int((NR + 1) / 2)], v[NR], o, NR } $1 > 1000 { o++ }')"
}

# within_1s: percent of BIND_MS at most 1000 ms, of every swap asked for (failed ones count against).
within_1s() {
	printf '%s\n' $BIND_MS | awk -v want="$1" '$1 != "" && $1 <= 1000 { n++ } END { if (want) printf "%.6g", 100 * n / want }'
}

bench_bind() {
	local delay par
	for delay in default 200; do
		for par in 1 8; do
			bind_run "bind-new-$delay-$par" new "$BIND_SWAPS" "$par" \
				$([ "$delay" = default ] || echo --informer-delay-ms "$delay")
			result "bind_new_${delay}_$par" "bound within 1 s: $par at once, delay $delay" \
				"$(within_1s "$BIND_SWAPS")" % %.0f ">=" 99
		done
	done
	bind_run bind-old old 20 1
	result bind_old_slow "old sequence: bound within 1 s (20 swaps)" "$(within_1s 20)" % %.0f
	result bind_old_median "old sequence: median bind time" \
		"$(calc %.6g "a / 1000" "$(median $BIND_MS)")" s %.1f
}

# ---------------------------------------------------------------------------------------------
# 7. Object-store sync: volshift s3 sync against rclone, between two moto servers.

S3_PARALLEL=${BENCH_S3_PARALLEL:-8}

# s3_timed TAG CMD...: runs CMD under /usr/bin/time; sets S3_MS, S3_RSS_KIB and S3_RC.
s3_timed() {
	local tag=$1 t0
	shift
	t0=$(now_ms)
	S3_RC=0
	/usr/bin/time -f '%M %U %S' -o "$WORK/$tag.time" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err" </dev/null || S3_RC=$?
	S3_MS=$(($(now_ms) - t0))
	S3_RSS_KIB=$(grep -E '^[0-9]+ ' "$WORK/$tag.time" 2>/dev/null | tail -n1 | awk '{print $1}')
	log "$tag: exit $S3_RC after $(calc %.1f "a / 1000" "$S3_MS") s, peak RSS $(calc %.1f "a / 1024" "$S3_RSS_KIB") MiB"
}

# s3_moto_alone DIR: curl PUTs of the small files (S3_PARALLEL at once) and of the big ones into
# a bucket of its own on BDST; sets MOTO_OBJS_S and MOTO_MIBS.
s3_moto_alone() {
	local dir=$1 t0 ms bytes
	curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" -u "$BDST_AK:$BDST_SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		-X PUT "$BDST_URL/moto-alone" -o /dev/null || return 1
	t0=$(now_ms)
	# shellcheck disable=SC2016 # expanded by the inner shell
	find "$dir" -type f -printf '%P\n' | xargs -P "$S3_PARALLEL" -I{} curl -sS --fail -o /dev/null \
		--aws-sigv4 "aws:amz:us-east-1:s3" -u "$BDST_AK:$BDST_SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		-H 'Content-Type: application/octet-stream' -T "$dir/{}" "$BDST_URL/moto-alone/{}" || return 1
	ms=$(($(now_ms) - t0))
	bytes=$(du -sb --apparent-size "$dir" | awk '{print $1}')
	MOTO_OBJS_S=$(calc %.6g "a * 1000 / b" "$(find "$dir" -type f | wc -l)" "$ms")
	MOTO_MIBS=$(calc %.6g "a / 1048576 / (b / 1000)" "$bytes" "$ms")
	detail s3.motoAloneMs "$ms"
	log "moto alone: $(find "$dir" -type f | wc -l) PUTs from curl, $S3_PARALLEL at once: $ms ms"
}

bench_s3() {
	local data="$WORK/s3data" vs_first="" vs_second="" vs_rss="" rc_ms="" objects bytes
	local vs_objs="" vs_mibs="" rc_objs="" rc_mibs="" rclone_ok=0
	MOTO_PY=$(moto_python) || {
		error "s3: moto is missing (pip install 'moto[server]' boto3)"
		return
	}
	mkdir -p "$data/small" "$data/big"
	if ! moto_start BSRC "$WORK" || ! moto_start BDST "$WORK"; then
		error "s3: moto did not start"
		return
	fi
	log "s3: moto at $BSRC_URL and $BDST_URL; filling 2000 objects of 4-64 KiB and 4 of 100 MiB"
	local i
	for i in 0 1 2 3; do stream "1$i" $((100 << 20)) >"$data/big/b$i"; done
	stream 20 $((2000 * 65536)) | split -b 65536 -a 4 -d - "$data/small/s"
	# sizes from 4 to 64 KiB: each file cut to its own length
	i=0
	for f in "$data"/small/s*; do
		truncate -s $((4096 + (i * 7919) % 61441)) "$f"
		i=$((i + 1))
	done
	objects=$(find "$data" -type f | wc -l)
	bytes=$(du -sb --apparent-size "$data" | awk '{print $1}')
	# the source filled with curl (single PUTs) in parallel
	curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" -u "$BSRC_AK:$BSRC_SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		-X PUT "$BSRC_URL/bench" -o /dev/null
	find "$data" -type f -printf '%P\n' | xargs -P 8 -I{} curl -sS --fail -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
		-u "$BSRC_AK:$BSRC_SK" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -H 'Content-Type: application/octet-stream' \
		-T "$data/{}" "$BSRC_URL/bench/{}" || error "s3: filling the source failed"
	s3_moto_alone "$data" || error "s3: the moto-alone PUT loop failed"

	s3_timed s3-volshift "$VS" s3 sync "$BSRC_URL/bench" "$BDST_URL/vs-bench" --source-credentials "$WORK/BSRC.creds" \
		--dest-credentials "$WORK/BDST.creds" --parallel "$S3_PARALLEL" --output json
	if [ "$S3_RC" = 0 ]; then
		vs_first=$S3_MS vs_rss=$S3_RSS_KIB
		vs_objs=$(calc %.6g "a * 1000 / b" "$objects" "$vs_first")
		vs_mibs=$(calc %.6g "a / 1048576 / (b / 1000)" "$bytes" "$vs_first")
		detail s3.volshiftRequests "$(events "$LOGS/s3-volshift.out" | jq -r 'select(.event == "s3-summary") | .requests')"
		detail s3.volshiftCopied "$(events "$LOGS/s3-volshift.out" | jq -r 'select(.event == "s3-summary") | .copied')"
	else
		error "s3: volshift s3 sync failed (exit $S3_RC): $(tail -c 300 "$LOGS/s3-volshift.err")"
	fi
	s3_timed s3-volshift-again "$VS" s3 sync "$BSRC_URL/bench" "$BDST_URL/vs-bench" --source-credentials "$WORK/BSRC.creds" \
		--dest-credentials "$WORK/BDST.creds" --parallel "$S3_PARALLEL" --output json
	if [ "$S3_RC" = 0 ]; then
		vs_second=$S3_MS
		detail s3.secondRunCopied "$(events "$LOGS/s3-volshift-again.out" | jq -r 'select(.event == "s3-summary") | .copied')"
		[ "$S3_RSS_KIB" -gt "${vs_rss:-0}" ] && vs_rss=$S3_RSS_KIB
	fi

	if command -v rclone >/dev/null 2>&1; then
		rclone_ok=1
		export RCLONE_CONFIG_BSRC_TYPE=s3 RCLONE_CONFIG_BSRC_PROVIDER=Other RCLONE_CONFIG_BSRC_ENDPOINT=$BSRC_URL \
			RCLONE_CONFIG_BSRC_ACCESS_KEY_ID=$BSRC_AK RCLONE_CONFIG_BSRC_SECRET_ACCESS_KEY=$BSRC_SK \
			RCLONE_CONFIG_BSRC_REGION=us-east-1 RCLONE_CONFIG_BSRC_FORCE_PATH_STYLE=true \
			RCLONE_CONFIG_BDST_TYPE=s3 RCLONE_CONFIG_BDST_PROVIDER=Other RCLONE_CONFIG_BDST_ENDPOINT=$BDST_URL \
			RCLONE_CONFIG_BDST_ACCESS_KEY_ID=$BDST_AK RCLONE_CONFIG_BDST_SECRET_ACCESS_KEY=$BDST_SK \
			RCLONE_CONFIG_BDST_REGION=us-east-1 RCLONE_CONFIG_BDST_FORCE_PATH_STYLE=true
		rclone mkdir bdst:rc-bench >/dev/null 2>&1
		s3_timed s3-rclone env -u AWS_CA_BUNDLE rclone sync bsrc:bench bdst:rc-bench --transfers "$S3_PARALLEL" --checksum
		if [ "$S3_RC" = 0 ]; then
			rc_ms=$S3_MS
			rc_objs=$(calc %.6g "a * 1000 / b" "$objects" "$rc_ms")
			rc_mibs=$(calc %.6g "a / 1048576 / (b / 1000)" "$bytes" "$rc_ms")
			detail s3.rcloneRssKiB "$S3_RSS_KIB"
		else
			error "s3: rclone failed (exit $S3_RC): $(tail -c 300 "$LOGS/s3-rclone.err")"
		fi
		s3_timed s3-rclone-again env -u AWS_CA_BUNDLE rclone sync bsrc:bench bdst:rc-bench --transfers "$S3_PARALLEL" --checksum
		[ "$S3_RC" = 0 ] && detail s3.rcloneSecondMs "$S3_MS"
	else
		note "rclone is missing (apt-get install rclone): its rows are n/a"
	fi
	moto_stop BSRC
	moto_stop BDST
	detail s3.objects "$objects"
	detail s3.bytes "$bytes"
	detail s3.volshiftMs "$vs_first"
	detail s3.volshiftSecondMs "$vs_second"
	detail s3.rcloneMs "$rc_ms"
	result s3_objects "s3 sync: objects/s (volshift, 2004 objects)" "$vs_objs" "" %.0f
	result s3_mibs "s3 sync: MiB/s (volshift)" "$vs_mibs" MiB/s %.1f
	result s3_rclone_objects "  rclone --checksum: objects/s" "$rc_objs" "" %.0f
	result s3_rclone_mibs "  rclone --checksum: MiB/s" "$rc_mibs" MiB/s %.1f
	result s3_ratio "s3 throughput volshift / rclone" "$(calc %.6g "100 * b / a" "$vs_first" "$rc_ms")" % %.0f ">=" 100
	result s3_second "s3 sync: no-change second run" "$(calc %.6g "a / 1000" "$vs_second")" s %.2f
	result s3_second_speedup "s3 first / no-change run" "$(calc %.6g "a / b" "$vs_first" "$vs_second")" x %.1f ">=" 5
	result s3_rss "s3 sync: peak RSS (volshift)" "$(calc %.6g "a / 1024" "$vs_rss")" MiB %.1f
	result s3_moto_objects "  moto alone (curl PUTs): objects/s" "${MOTO_OBJS_S:-}" "" %.0f
	result s3_moto_mibs "  moto alone (curl PUTs): MiB/s" "${MOTO_MIBS:-}" MiB/s %.1f
	[ "$rclone_ok" = 1 ] || true
}

# ---------------------------------------------------------------------------------------------

report() {
	local total=$((SECONDS - BENCH_START))
	printf '\n%-44s %-12s %-12s %s\n' benchmark value target ok
	jq -r '[.name, ._show, ._tshow, (if .ok == true then "yes" elif .ok == false then "NO" elif ._tshow != "" then "n/a" else "" end)] | @tsv' \
		"$RESULTS" | while IFS=$'\t' read -r name show tshow ok; do
		printf '%-44s %-12s %-12s %s\n' "$name" "$show" "$tshow" "$ok"
	done
	if [ -s "$NOTES" ]; then
		echo
		sed 's/^/note: /; s/^note: ERROR/ERROR/' "$NOTES"
	fi
	printf '\nbench took %d s; results in %s, logs in %s\n' "$total" "$JSON_OUT" "$LOGS"
	jq -n --slurpfile r "$RESULTS" --slurpfile d "$DETAILS" --rawfile notes "$NOTES" \
		--arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" \
		--arg dirty "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | head -c1)" \
		--arg date "$(date -u +%FT%TZ)" --argjson cpus "$(nproc)" --argjson secs "$total" \
		--argjson par "$HAS_PARALLEL" --argjson nowarm "$HAS_NO_WARM" --argjson errors "$ERRORS" '{
			commit: $commit, dirty: ($dirty != ""), date: $date, cpus: $cpus, durationS: $secs,
			volshift: {parallel: ($par == 1), noWarmCopy: ($nowarm == 1)},
			results: [$r[] | del(._show, ._tshow)],
			details: ([$d[] | {(.key): .value}] | add // {}),
			notes: ($notes | split("\n") | map(select(. != ""))),
			errors: $errors
		}' >"$JSON_OUT.tmp" && mv "$JSON_OUT.tmp" "$JSON_OUT"
}

main() {
	local t help
	for t in "$VS" "$BIN/volshift-sim"; do
		[ -x "$t" ] || {
			echo "bench: $t not built (make BUILD=$BUILD)" >&2
			exit 1
		}
	done
	for t in kubectl jq curl rsync openssl /usr/bin/time timeout awk split; do
		command -v "$t" >/dev/null 2>&1 || {
			echo "bench: $t is missing (scripts/install-deps.sh)" >&2
			exit 1
		}
	done
	mkdir -p "$LOGS" && rm -f "$LOGS"/*
	HAS_PARALLEL=0 HAS_NO_WARM=0
	help=$("$VS" migrate --help 2>&1) # whole: grep -q may exit before volshift wrote it all (SIGPIPE)
	grep -q -- --parallel <<<"$help" && HAS_PARALLEL=1
	grep -q -- --no-warm-copy <<<"$help" && HAS_NO_WARM=1
	log "volshift $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null): --parallel $([ $HAS_PARALLEL = 1 ] && echo yes || echo no), --no-warm-copy $([ $HAS_NO_WARM = 1 ] && echo yes || echo no)"
	if ! prepare_cache; then
		rm -rf "$CACHE"
		echo "bench: could not generate the data in $CACHE" >&2
		exit 1
	fi
	for t in $ONLY; do
		case "$t" in
		parallel) bench_parallel ;;
		warmcold) bench_warmcold ;;
		many) bench_many ;;
		downtime) bench_downtime ;;
		bind) bench_bind ;;
		s3) bench_s3 ;;
		*) error "unknown benchmark '$t' in BENCH_ONLY (parallel warmcold many downtime bind s3)" ;;
		esac
	done
	report
	[ "$ERRORS" = 0 ]
}

main "$@"
