#!/usr/bin/env bash
# bind_race.sh: how long a recreated claim takes to bind to its retained volume on volshift-sim, for
# the two sequences of KUBERNETES-NOTES "Binding a recreated claim: the race", measured the way the
# notes measured them on a real 1.26 control plane (create -> the claim shows Bound):
#
#   old  pre-bind the Released PV's claimRef to {namespace, name} without uid, then at once create
#        the claim naming the volume (volshift's swap before the rewrite). Real: 0.05 / 5.0 / 19.5 s
#        (min / median / max), 8 of 10 over 1 s.
#   new  create the claim naming the volume while the PV still names the deleted claim's uid, patch
#        the PV's claimRef to {namespace, name, uid: the new claim's} (a JSON patch that tests the old
#        uid first), then change an annotation on the claim once the PV shows Bound, and again each
#        time nothing moved for 0.1 s, doubling to 2 s. Real: 0.04 / 0.05 / 0.25 s.
#
# Each trial first makes a claim of class shared, waits for it to bind, sets its PV's policy to
# Retain and deletes the claim (waiting for Released); the timed part follows; then the claim and
# the PV go. Trials run one after another, a random 0 to PAUSE s apart (PAUSE: the resync period),
# so that they meet the PV controller's resync at random phases. The client writes are curl requests, back to back as a
# program would make them (kubectl takes ~0.1 s per command, which hides the race). The time is
# from just before the claim's POST to the commit of its status Bound, which volshift-sim logs
# with milliseconds ("pv: claim NS/NAME entered phase Bound"), so that the script's own polling
# does not count.
#
# Usage: scripts/bind_race.sh [-n TRIALS] [-s old|new|both] [-p PAUSE] [-j FILE] [-- VOLSHIFT-SIM FLAGS...]
#   -n TRIALS  per sequence (default 10)
#   -p PAUSE   the longest random pause between trials, in seconds (default 15, the default resync)
#   -s         which sequence(s) (default both)
#   -j FILE    also write the results as JSON: {"old": {"n", "min", "median", "max", "over_1s",
#              "failed_binding", "times"}, "new": {...}}
#   flags after -- go to volshift-sim (default: none, i.e. a real cluster's timings)
# Environment: BUILD (build), KEEP=1 keeps the sim's directory.
# Prints one line per trial on stderr and, per sequence, on stdout:
#   old: n=10 min=0.05 median=5.02 max=14.81 s, over 1 s: 8/10, FailedBinding in 3
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
TRIALS=10
WHICH=both
PAUSE=15
JSON=
while getopts "n:s:p:j:" opt; do
	case $opt in
	n) TRIALS=$OPTARG ;;
	p) PAUSE=$OPTARG ;;
	s) WHICH=$OPTARG ;;
	j) JSON=$OPTARG ;;
	*) sed -n '2,/^set -uo/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

DIR=$(mktemp -d /tmp/vs-bindrace-XXXXXX)
# plain HTTP: the requests below are curl's, timed, without the sim's credentials
"$ROOT/$BUILD/bin/volshift-sim" run --data-dir "$DIR" --insecure-http "$@" >"$DIR/sim.out" 2>"$DIR/sim.log" &
SIM=$!
cleanup() {
	kill -TERM "$SIM" 2>/dev/null
	wait "$SIM" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] && echo "sim directory kept: $DIR" >&2 || rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 1 200); do
	grep -q "ready" "$DIR/sim.out" 2>/dev/null && break
	sleep 0.05
done
URL=$(awk '/ready/ {print $3}' "$DIR/sim.out")
[ -n "$URL" ] || { echo "volshift-sim did not start: $(tail -3 "$DIR/sim.log")" >&2; exit 1; }
NS=/api/v1/namespaces/default

now_ms() { date +%s%3N; }
req() { # req METHOD PATH [CONTENT-TYPE BODY]
	if [ $# -gt 2 ]; then
		curl -sS -X "$1" -H "Content-Type: $3" --data-binary "$4" "$URL$2"
	else
		curl -sS -X "$1" "$URL$2"
	fi
}
field() { req GET "$1" | jq -r "$2 // \"\""; }
claim_json() { # claim_json NAME [VOLUME]
	jq -cn --arg n "$1" --arg v "${2:-}" '{apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: {name: $n},
		spec: ({storageClassName: "shared", accessModes: ["ReadWriteOnce"], resources: {requests: {storage: "10Mi"}}}
			+ (if $v == "" then {} else {volumeName: $v} end))}'
}
wait_field() { # wait_field SECONDS PATH JQ VALUE
	local end=$(($(now_ms) + $1 * 1000))
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(field "$2" "$3")" = "$4" ] && return 0
		sleep 0.01
	done
	echo "timed out waiting for $2 $3 = $4" >&2
	return 1
}

# prepare I: a Released, retained PV whose claimRef names the deleted claim src-I; sets PV, OLD_UID.
prepare() {
	req POST "$NS/persistentvolumeclaims" application/json "$(claim_json "src-$1")" >/dev/null
	wait_field 30 "$NS/persistentvolumeclaims/src-$1" .status.phase Bound || return 1
	PV=$(field "$NS/persistentvolumeclaims/src-$1" .spec.volumeName)
	OLD_UID=$(field "$NS/persistentvolumeclaims/src-$1" .metadata.uid)
	req PATCH "/api/v1/persistentvolumes/$PV" application/merge-patch+json \
		'{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' >/dev/null
	req DELETE "$NS/persistentvolumeclaims/src-$1" >/dev/null
	wait_field 30 "/api/v1/persistentvolumes/$PV" .status.phase Released
}

# old_sequence I: sets T0. One curl makes both requests (--next), on one connection, the second as
# soon as the first is answered: as fast as a program makes them.
old_sequence() {
	local ref body
	ref=$(jq -cn --arg n "dst-$1" '[{op: "replace", path: "/spec/claimRef", value: {namespace: "default", name: $n}}]')
	body=$(claim_json "dst-$1" "$PV")
	T0=$(now_ms)
	curl -sS -o /dev/null -X PATCH -H "Content-Type: application/json-patch+json" --data-binary "$ref" \
		"$URL/api/v1/persistentvolumes/$PV" --next -sS -o /dev/null -X POST -H "Content-Type: application/json" \
		--data-binary "$body" "$URL$NS/persistentvolumeclaims"
}

# look I: "PHASE CLAIM-RV/PV-RV": the claim's phase, and what tells whether the claim or its PV moved.
look() {
	curl -sS "$URL$NS/persistentvolumeclaims/dst-$1" "$URL/api/v1/persistentvolumes/$PV" |
		jq -rs '"\(.[0].status.phase) \(.[0].metadata.resourceVersion)/\(.[1].metadata.resourceVersion)"'
}

nudge() { # nudge I N: change an annotation on the claim
	req PATCH "$NS/persistentvolumeclaims/dst-$1" application/merge-patch+json \
		"{\"metadata\":{\"annotations\":{\"example.com/nudge\":\"$2\"}}}" >/dev/null
}

new_sequence() { # new_sequence I: sets T0; nudges until the claim is Bound
	local uid patch last moved backoff=100 n=0 seen phase
	T0=$(now_ms)
	uid=$(req POST "$NS/persistentvolumeclaims" application/json "$(claim_json "dst-$1" "$PV")" | jq -r .metadata.uid)
	patch=$(jq -cn --arg old "$OLD_UID" --arg n "dst-$1" --arg u "$uid" '[{op: "test", path: "/spec/claimRef/uid", value: $old},
		{op: "replace", path: "/spec/claimRef", value: {namespace: "default", name: $n, uid: $u}}]')
	req PATCH "/api/v1/persistentvolumes/$PV" application/json-patch+json "$patch" >/dev/null
	wait_field 30 "/api/v1/persistentvolumes/$PV" .status.phase Bound || return 1
	nudge "$1" $((n += 1))
	read -r phase last <<<"$(look "$1")"
	moved=$(now_ms)
	while [ "$phase" != Bound ]; do
		[ $(($(now_ms) - T0)) -gt 60000 ] && return 1
		sleep 0.01
		read -r phase seen <<<"$(look "$1")"
		if [ "$seen" != "$last" ]; then
			last=$seen
			moved=$(now_ms)
		elif [ "$phase" != Bound ] && [ $(($(now_ms) - moved)) -ge "$backoff" ]; then
			nudge "$1" $((n += 1))
			backoff=$((backoff * 2 > 2000 ? 2000 : backoff * 2))
			moved=$(now_ms)
		fi
	done
}

# bound_at NAME: when the claim's status Bound was committed (ms since the epoch), from sim.log.
bound_at() {
	local end=$(($(now_ms) + 120000)) t
	while [ "$(now_ms)" -lt "$end" ]; do
		t=$(grep -m1 "pv: claim default/$1 entered phase Bound" "$DIR/sim.log" | awk '{print $1}')
		if [ -n "$t" ]; then
			t=$(date -u -d "$t" +%s%3N)
			# the log has the time of day (UTC) only: a trial that spans midnight
			[ "$t" -lt $((T0 - 43200000)) ] && t=$((t + 86400000))
			echo "$t"
			return 0
		fi
		sleep 0.05
	done
	echo "timed out waiting for claim $1 to be Bound" >&2
	return 1
}

cleanup_trial() {
	req DELETE "$NS/persistentvolumeclaims/dst-$1" >/dev/null
	wait_field 30 "/api/v1/persistentvolumes/$PV" .status.phase Released >/dev/null 2>&1
	req DELETE "/api/v1/persistentvolumes/$PV" >/dev/null
}

failed_binding() { # failed_binding I: 1 when the claim got a FailedBinding event
	req GET "$NS/events" | jq --arg n "dst-$1" '[.items[] | select(.involvedObject.name == $n and .reason == "FailedBinding")] | length > 0' |
		grep -q true && echo 1 || echo 0
}

# run SEQ: TRIALS trials; prints the summary line and appends the JSON object to $RESULTS
RESULTS=$DIR/results.json
echo '{}' >"$RESULTS"
run() {
	local seq=$1 i times=() fb=0 t stats
	for i in $(seq 1 "$TRIALS"); do
		sleep "$(awk -v r="$RANDOM" -v p="$PAUSE" 'BEGIN {printf "%.2f", r / 32768 * p}')"
		prepare "$seq$i" || { echo "$seq $i: preparing failed" >&2; return 1; }
		"${seq}_sequence" "$seq$i" || { echo "$seq $i: the sequence failed" >&2; return 1; }
		t=$(bound_at "dst-$seq$i") || return 1
		t=$((t - T0))
		times+=("$t")
		fb=$((fb + $(failed_binding "$seq$i")))
		echo "$seq $i: create -> Bound $(awk -v t="$t" 'BEGIN {printf "%.3f", t / 1000}') s" >&2
		cleanup_trial "$seq$i"
	done
	stats=$(printf '%s\n' "${times[@]}" | sort -n | jq -sc --arg fb "$fb" '{n: length, min: (.[0] / 1000),
		median: ((if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) / 1000),
		max: (.[-1] / 1000), over_1s: ([.[] | select(. > 1000)] | length), failed_binding: ($fb | tonumber),
		times: [.[] / 1000]}')
	jq --arg s "$seq" --argjson v "$stats" '.[$s] = $v' "$RESULTS" >"$RESULTS.new" && mv "$RESULTS.new" "$RESULTS"
	jq -r --arg s "$seq" '.[$s] | "\($s): n=\(.n) min=\(.min) median=\(.median) max=\(.max) s, over 1 s: \(.over_1s)/\(.n), FailedBinding in \(.failed_binding)"' "$RESULTS"
}

rc=0
case $WHICH in
old | new) run "$WHICH" || rc=1 ;;
both) { run old && run new; } || rc=1 ;;
*) echo "-s: expected old, new or both" >&2; exit 2 ;;
esac
[ -n "$JSON" ] && cp "$RESULTS" "$JSON"
exit $rc
