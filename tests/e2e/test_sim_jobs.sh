#!/usr/bin/env bash
# End-to-end: Jobs on volshift-sim as kube-controller-manager's Job and TTL-after-finished
# controllers run them: pods to completion, failed pods replaced after an exponential back-off up to
# backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished, and the Complete and Failed
# conditions with the status fields a real controller writes.
. "$(dirname "$0")/lib.sh"

job() { # job NAME RESTART_POLICY SCRIPT [SPEC_LINE...]: a one-pod Job running sh -c SCRIPT
	local name=$1 policy=$2 script=$3 line
	shift 3
	printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: %s}\nspec:\n' "$name"
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	cat <<YAML
  template:
    spec:
      restartPolicy: $policy
      containers: [{name: c, image: busybox, command: [sh, -c, '$script']}]
YAML
}

# cond JOB TYPE FIELD: one field of the Job's condition of that type.
cond() {
	jp job "$1" "{.status.conditions[?(@.type==\"$2\")].$3}"
}

epoch() { date -u -d "$1" +%s; }

test_job_complete_condition_and_times() {
	job done Never 'echo done' 'completions: 2' | kubectl create -f -
	kubectl wait --for=condition=Complete job/done --timeout=60s
	assert_eq True "$(cond done Complete status)" "Complete status"
	assert_eq "" "$(cond done Complete reason)" "Complete reason (1.26 writes none)"
	assert_eq 2 "$(jp job done '{.status.succeeded}')" "succeeded"
	assert_eq "" "$(jp job done '{.status.failed}')" "failed"
	local start end ltt
	start=$(jp job done '{.status.startTime}')
	end=$(jp job done '{.status.completionTime}')
	ltt=$(cond done Complete lastTransitionTime)
	assert_eq "$end" "$ltt" "completionTime and the condition's lastTransitionTime"
	[ -n "$(cond done Complete lastProbeTime)" ] || fail "no lastProbeTime"
	[ "$(epoch "$start")" -le "$(epoch "$end")" ] || fail "started $start after it completed $end"
	assert_eq 2 "$(kubectl get pods -l job-name=done --field-selector=status.phase=Succeeded -o name | wc -l | tr -d ' ')" \
		"Succeeded pods"
}

# Each failed pod is replaced 10 s after it failed, then 20 s; the third failure passes
# backoffLimit 2 and fails the Job.
test_job_backoff_limit_with_growing_delay() {
	job flaky Never 'exit 3' 'backoffLimit: 2' | kubectl create -f -
	kubectl wait --for=condition=Failed job/flaky --timeout=120s
	assert_eq BackoffLimitExceeded "$(cond flaky Failed reason)" "reason"
	assert_eq "Job has reached the specified backoff limit" "$(cond flaky Failed message)" "message"
	[ -n "$(cond flaky Failed lastTransitionTime)" ] || fail "no lastTransitionTime"
	assert_eq 3 "$(jp job flaky '{.status.failed}')" "failed"
	assert_eq "" "$(jp job flaky '{.status.completionTime}')" "completionTime of a failed Job"
	local times gaps
	times=$(kubectl get pods -l job-name=flaky -o json | jq -r '.items | sort_by(.metadata.creationTimestamp) | .[] |
		"\(.metadata.creationTimestamp) \(.status.containerStatuses[0].state.terminated.finishedAt)"')
	assert_eq 3 "$(wc -l <<<"$times" | tr -d ' ')" "pods of the Job"
	gaps=$(while read -r created finished; do
		[ -z "${prev:-}" ] || echo $(($(epoch "$created") - $(epoch "$prev")))
		prev=$finished
	done <<<"$times" | tr '\n' ' ')
	read -r first second <<<"$gaps"
	[ "$first" -ge 9 ] && [ "$first" -le 14 ] || fail "first replacement after ${first}s, expected 10 (gaps: $gaps)"
	[ "$second" -ge 19 ] && [ "$second" -le 24 ] || fail "second replacement after ${second}s, expected 20 (gaps: $gaps)"
	kubectl get events --field-selector involvedObject.name=flaky -o jsonpath='{.items[*].reason}' |
		grep -qw BackoffLimitExceeded || fail "no BackoffLimitExceeded event"
}

# With restartPolicy OnFailure the pod is restarted in place; its restarts count against
# backoffLimit and the pod goes when the Job fails.
test_job_backoff_limit_counts_restarts_on_failure() {
	job restarts OnFailure 'exit 1' 'backoffLimit: 1' | kubectl create -f -
	kubectl wait --for=condition=Failed job/restarts --timeout=90s
	assert_eq BackoffLimitExceeded "$(cond restarts Failed reason)" "reason"
	wait_for 30 "the pod to go" sh -c '[ -z "$(kubectl get pods -l job-name=restarts -o name)" ]'
}

# The deadline ends a running Job: its pod is killed and counted as failed.
test_job_active_deadline() {
	job slow Never 'sleep 300' 'activeDeadlineSeconds: 3' | kubectl create -f -
	wait_for 30 "slow running" sh -c "kubectl get pods -l job-name=slow -o jsonpath='{.items[0].status.phase}' | grep -q Running"
	kubectl wait --for=condition=Failed job/slow --timeout=60s
	assert_eq DeadlineExceeded "$(cond slow Failed reason)" "reason"
	assert_eq "Job was active longer than specified deadline" "$(cond slow Failed message)" "message"
	assert_eq 1 "$(jp job slow '{.status.failed}')" "failed"
	local start failed_at
	start=$(epoch "$(jp job slow '{.status.startTime}')")
	failed_at=$(epoch "$(cond slow Failed lastTransitionTime)")
	[ $((failed_at - start)) -ge 3 ] && [ $((failed_at - start)) -le 10 ] ||
		fail "failed $((failed_at - start))s after it started, expected about 3"
	wait_for 30 "the pod to go" sh -c '[ -z "$(kubectl get pods -l job-name=slow -o name)" ]'
	local reasons
	reasons=$(kubectl get events --field-selector involvedObject.name=slow -o jsonpath='{.items[*].reason}')
	[[ " $reasons " == *" SuccessfulDelete "* && " $reasons " == *" DeadlineExceeded "* ]] ||
		fail "events of slow: $reasons"
}

# The TTL-after-finished controller deletes a finished Job, with its pods, ttlSecondsAfterFinished
# after it finished; a Job without the field stays.
test_job_ttl_after_finished() {
	job brief Never 'echo done' 'ttlSecondsAfterFinished: 4' | kubectl create -f -
	job kept Never 'echo done' | kubectl create -f -
	kubectl wait --for=condition=Complete job/brief job/kept --timeout=60s
	kubectl get job brief >/dev/null || fail "brief went before its TTL"
	local finished
	finished=$(epoch "$(cond brief Complete lastTransitionTime)")
	wait_for 30 "brief to go" sh -c '! kubectl get job brief 2>/dev/null'
	local gone=$(($(date -u +%s) - finished))
	[ "$gone" -ge 4 ] || fail "brief went ${gone}s after it finished, before its TTL of 4s"
	wait_for 30 "brief's pod to go" sh -c '[ -z "$(kubectl get pods -l job-name=brief -o name)" ]'
	kubectl get job kept >/dev/null || fail "kept was deleted"
	assert_eq 1 "$(kubectl get pods -l job-name=kept -o name | wc -l | tr -d ' ')" "kept's pod"
}

e2e_main
