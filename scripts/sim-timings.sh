#!/usr/bin/env bash
# How long pods take to start and stop on volshift-sim, measured from outside as a user sees it:
# each time is from just before the request (or the kubectl command) to the moment a watch
# receives the event. Each run is on a fresh volshift-sim (3 nodes, so new clock phases) with the
# default timings (or the volshift-sim flags given as arguments); prints min / median / max over
# RUNS runs of:
#   - a Deployment of 1 replica: from its creation to its pod Ready, and from the pod's creation;
#   - `kubectl scale --replicas=0` of that Deployment: to replicas 0 visible, to the pod's
#     deletionTimestamp, to the pod object gone (KUBERNETES-NOTES.md, "Other timings");
#   - a bare pod using a claim that is already bound (class shared): from its creation to Running;
#   - a StatefulSet of 3 replicas with a claim template (the default class, local,
#     WaitForFirstConsumer): from `kubectl scale --replicas=3` to 3 Ready.
# Environment: BUILD (build), RUNS (5), KEEP=1 (keep the sim's directory).
#   scripts/sim-timings.sh                          # default timings
#   RUNS=3 scripts/sim-timings.sh --pleg-relist-period 200ms
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
# shellcheck disable=SC1091
. "$ROOT/tests/e2e/lib.sh"

WORK=$(mktemp -d /tmp/vs-timings-XXXXXX)
WATCHES=()
cleanup() {
	local p
	for p in "${WATCHES[@]}"; do kill "$p" 2>/dev/null; done
	sim_stop
	rm -rf "$WORK"
}
trap cleanup EXIT

api() { # METHOD PATH [BODY]: the API's reply on stdout
	if [ $# -gt 2 ]; then
		sim_curl -sS -X "$1" -H 'Content-Type: application/json' --data-binary "$3" "$SIM_URL$2"
	else
		sim_curl -sS -X "$1" "$SIM_URL$2"
	fi
}

# watch PATH FILE: follows a watch of PATH from now on; each event is written to FILE as one line
# {"t": arrival time in seconds, "e": the event}. Returns once the watch is open.
watch() {
	local rv
	rv=$(api GET "$1" | jq -r .metadata.resourceVersion)
	: >"$2"
	sim_curl -sN "$SIM_URL$1?watch=1&resourceVersion=$rv" > >(
		while IFS= read -r line; do printf '{"t":%s,"e":%s}\n' "$EPOCHREALTIME" "$line"; done >>"$2"
	) &
	WATCHES+=($!)
	sleep 0.3
}

# first FILE JQ_FILTER: the arrival time of the first event of FILE whose .e passes the filter,
# or nothing.
first() {
	jq -rs "[.[] | select(.e | $2) | .t] | min // empty" "$1"
}

# await SECONDS FILE JQ_FILTER: waits for such an event; prints its time.
await() {
	local end=$((SECONDS + $1)) t
	while [ $SECONDS -lt "$end" ]; do
		t=$(first "$2" "$3")
		[ -n "$t" ] && { echo "$t"; return 0; }
		sleep 0.1
	done
	echo "timings: timed out waiting in $2 for $3" >&2
	return 1
}

# pause SECONDS: sleeps SECONDS plus up to a second at random, so that a measurement does not start
# at the same point of the nodes' relists as the one before, which ended at one of them.
pause() { sleep "$(awk -v s="$1" -v r="$RANDOM" 'BEGIN { printf "%.3f", s + r / 32768 }')"; }

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }'; }

record() { echo "$2" >>"$WORK/m-$1"; } # NAME MS

READY='.object.status.conditions // [] | any(.type == "Ready" and .status == "True")'

deployment() { # NAME: a Deployment of one pod that sleeps
	jq -nc --arg n "$1" '{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: $n},
		spec: {replicas: 1, selector: {matchLabels: {app: $n}},
		       template: {metadata: {labels: {app: $n}},
		                  spec: {containers: [{name: "c", image: "busybox", command: ["sleep", "3600"]}]}}}}'
}

run_deployment() { # I
	local n="d$1" t0 ready added t_scale rep0 delts gone
	watch "/api/v1/namespaces/default/pods" "$WORK/pods-$n"
	watch "/apis/apps/v1/namespaces/default/deployments" "$WORK/deploy-$n"
	pause 0
	t0=$EPOCHREALTIME
	api POST /apis/apps/v1/namespaces/default/deployments "$(deployment "$n")" >/dev/null
	ready=$(await 60 "$WORK/pods-$n" ".object.metadata.labels.app == \"$n\" and ($READY)") || return 1
	added=$(first "$WORK/pods-$n" ".type == \"ADDED\" and .object.metadata.labels.app == \"$n\"")
	record deploy-ready "$(ms "$t0" "$ready")"
	record pod-ready "$(ms "$added" "$ready")"
	pause 1
	t_scale=$EPOCHREALTIME
	kubectl scale deployment "$n" --replicas=0 >/dev/null
	gone=$(await 60 "$WORK/pods-$n" ".type == \"DELETED\" and .object.metadata.labels.app == \"$n\"") || return 1
	rep0=$(first "$WORK/deploy-$n" ".object.metadata.name == \"$n\" and .object.spec.replicas == 0")
	delts=$(first "$WORK/pods-$n" ".object.metadata.labels.app == \"$n\" and .object.metadata.deletionTimestamp != null")
	record scale-replicas0 "$(ms "$t_scale" "$rep0")"
	record scale-deletion "$(ms "$t_scale" "$delts")"
	record scale-gone "$(ms "$t_scale" "$gone")"
}

run_pod_with_claim() { # I
	local n="p$1" claim="c$1" t0 running
	api POST /api/v1/namespaces/default/persistentvolumeclaims "$(jq -nc --arg n "$claim" '{apiVersion: "v1",
		kind: "PersistentVolumeClaim", metadata: {name: $n}, spec: {storageClassName: "shared",
		accessModes: ["ReadWriteOnce"], resources: {requests: {storage: "1Mi"}}}}')" >/dev/null
	wait_for 60 "claim $claim Bound" field_is pvc "$claim" '{.status.phase}' Bound || return 1
	watch "/api/v1/namespaces/default/pods" "$WORK/pod-$n"
	pause 0
	t0=$EPOCHREALTIME
	api POST /api/v1/namespaces/default/pods "$(jq -nc --arg n "$n" --arg c "$claim" '{apiVersion: "v1", kind: "Pod",
		metadata: {name: $n}, spec: {containers: [{name: "c", image: "busybox", command: ["sleep", "3600"],
		volumeMounts: [{name: "d", mountPath: "/data"}]}], volumes: [{name: "d", persistentVolumeClaim: {claimName: $c}}]}}')" >/dev/null
	running=$(await 60 "$WORK/pod-$n" ".object.metadata.name == \"$n\" and .object.status.phase == \"Running\"") || return 1
	record pod-claim-running "$(ms "$t0" "$running")"
}

run_statefulset() { # I
	local n="s$1" t0 all
	api POST /apis/apps/v1/namespaces/default/statefulsets "$(jq -nc --arg n "$n" '{apiVersion: "apps/v1",
		kind: "StatefulSet", metadata: {name: $n}, spec: {replicas: 0, serviceName: $n,
		selector: {matchLabels: {app: $n}},
		template: {metadata: {labels: {app: $n}},
		           spec: {containers: [{name: "c", image: "busybox", command: ["sleep", "3600"],
		                                volumeMounts: [{name: "data", mountPath: "/data"}]}]}},
		volumeClaimTemplates: [{metadata: {name: "data"}, spec: {accessModes: ["ReadWriteOnce"],
		                        resources: {requests: {storage: "1Mi"}}}}]}}')" >/dev/null
	sleep 0.5
	watch "/apis/apps/v1/namespaces/default/statefulsets" "$WORK/sts-$n"
	pause 0
	t0=$EPOCHREALTIME
	kubectl scale statefulset "$n" --replicas=3 >/dev/null
	all=$(await 120 "$WORK/sts-$n" ".object.metadata.name == \"$n\" and .object.status.readyReplicas == 3") || return 1
	record sts-3-ready "$(ms "$t0" "$all")"
}

row() { # NAME LABEL
	local f="$WORK/m-$1"
	[ -s "$f" ] || { printf '| %s | - | - | - | 0 |\n' "$2"; return; }
	sort -n "$f" | awk -v label="$2" '{ v[NR] = $1 } END {
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "| %s | %.2f | %.2f | %.2f | %d |\n", label, v[1] / 1000, med / 1000, v[NR] / 1000, NR }'
}

failed=0
for i in $(seq 1 "$RUNS"); do
	sim_start 3 "$@" || exit 1
	echo "run $i of $RUNS: volshift-sim $* (data in $SIM_DIR)" >&2
	run_deployment "$i" || failed=1
	run_pod_with_claim "$i" || failed=1
	run_statefulset "$i" || failed=1
	for p in "${WATCHES[@]}"; do kill "$p" 2>/dev/null; done
	WATCHES=()
	sim_stop
done

echo "| measure (seconds) | min | median | max | runs |"
echo "|---|---|---|---|---|"
row deploy-ready "Deployment created -> its pod Ready"
row pod-ready "the Deployment's pod created -> Ready"
row scale-replicas0 "kubectl scale --replicas=0 -> replicas 0 visible"
row scale-deletion "kubectl scale --replicas=0 -> the pod's deletionTimestamp"
row scale-gone "kubectl scale --replicas=0 -> the pod object gone"
row pod-claim-running "bare pod with a bound claim created -> Running"
row sts-3-ready "kubectl scale statefulset --replicas=3 (claim templates) -> 3 Ready"
exit "$failed"
