#!/usr/bin/env bash
# End-to-end: volshift inside the cluster, as deploy/ installs it. `volshift migrate` runs as a Job
# (in-cluster config, ServiceAccount volshift-system/volshift) under the shipped least-privilege
# roles and moves an application set; with one rule of those roles removed it stops in its access
# check, before changing anything, naming the rule to add; and the roles grant exactly the
# permissions volshift asks for (src/migrate/access.c).
. "$(dirname "$0")/migrate_lib.sh"

DEPLOY="$E2E_ROOT/deploy"

# deploy_roles: kubectl apply -k deploy/ (Namespace, ServiceAccount, roles and bindings).
deploy_roles() {
	kubectl apply -k "$DEPLOY" >"$SIM_DIR/deploy.out" || fail "kubectl apply -k deploy/: $(cat "$SIM_DIR/deploy.out")"
}

# migrate_job SUFFIX: the Job of deploy/migrate-job, as an overlay makes it for volshift-sim (whose
# pods run host programs: volshift by its path), named volshift-migrate-SUFFIX, moving the claims
# of class local to shared; prints nothing, fails when the Job cannot be created.
migrate_job() {
	local dir="$SIM_DIR/job-$1"
	mkdir -p "$dir"
	cat >"$dir/kustomization.yaml" <<YAML
resources: [$(realpath --relative-to="$dir" "$DEPLOY/migrate-job")]
nameSuffix: "-$1"
images: [{name: volshift, newName: busybox}]
patches:
  - target: {kind: Job, name: volshift-migrate}
    patch: |-
      - {op: replace, path: /spec/template/spec/containers/0/command, value: [$BIN/volshift, migrate, --yes]}
      - {op: replace, path: /spec/template/spec/containers/0/args, value: [--source-sc, local, --dest-sc, shared]}
YAML
	kubectl apply -k "$dir" >/dev/null
}

# job_phase SUFFIX: the phase of the pod of Job volshift-migrate-SUFFIX.
job_phase() {
	kubectl get pods -n volshift-system -l "job-name=volshift-migrate-$1" -o 'jsonpath={.items[0].status.phase}'
}

# job_ended SUFFIX PHASE [SECONDS]: the Job's pod ended (within SECONDS, default 240), in PHASE.
job_ended() {
	wait_for "${3:-240}" "the Job volshift-migrate-$1 to end" job_over "$1" || return 1
	[ "$(job_phase "$1")" = "$2" ] || fail "the Job volshift-migrate-$1 ended $(job_phase "$1"), not $2: $(job_log "$1" | tail -20)"
}

# job_over SUFFIX: the Job's pod has ended.
job_over() {
	[[ "$(job_phase "$1")" == @(Succeeded|Failed) ]]
}

# job_log SUFFIX: the output of the Job's pod.
job_log() {
	kubectl logs -n volshift-system "job/volshift-migrate-$1" 2>&1
}

# app_set: a Deployment and a StatefulSet on class local, ready, with data.
app_set() {
	app web local >/dev/null
	statefulset db local 1 >/dev/null
	ready deployment web
	ready statefulset db
}

# outside_state: every object a migration could touch, except volshift's own Jobs and their pods.
outside_state() {
	cluster_state | jq -S '[.[] | select((.metadata.namespace == "volshift-system" and
		(.kind == "Job" or .kind == "Pod")) | not)]'
}

# as_volshift CMD...: CMD with a kubeconfig whose user is a token of ServiceAccount
# volshift-system/volshift (volshift on the host, as the Job's pod would be).
as_volshift() {
	local kc="$SIM_DIR/volshift.kubeconfig" tok
	if [ ! -f "$kc" ]; then
		tok=$(kubectl create token volshift -n volshift-system) || return 1
		kubectl config view --raw --minify >"$kc"
		KUBECONFIG=$kc kubectl config set-credentials volshift --token="$tok" >/dev/null
		KUBECONFIG=$kc kubectl config set-context --current --user=volshift >/dev/null
	fi
	KUBECONFIG=$kc "$@"
}

# permissions: "GROUP RESOURCE VERB" lines, sorted, of rules as JSON on stdin ([{apiGroups,...}]).
permissions() {
	jq -r '.[] | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\(if $g == "" then "core" else $g end) \($r) \($v)"' |
		sort
}

# missing_permissions FILE: the same lines from the rules volshift's access check printed.
missing_permissions() {
	sed -nE 's/^ *- \{apiGroups: \["([^"]*)"\], resources: \[([^]]*)\], verbs: \[([^]]*)\]\}.*/\1|\2|\3/p' "$1" |
		awk -F'|' '{ n = split($3, v, ", "); for (i = 1; i <= n; i++) print ($1 == "" ? "core" : $1) " " $2 " " v[i] }' |
		sort
}

# The Job runs volshift with in-cluster config as the ServiceAccount of deploy/, bound to nothing
# but the shipped roles, and moves a Deployment's and a StatefulSet's claims with their data.
test_job_migrates_under_the_shipped_roles() {
	app_set
	local web db
	echo hello-web >"$(claim_dir web)/payload"
	echo hello-db >"$(claim_dir data-db-0)/payload"
	deploy_roles
	migrate_job ok
	job_ended ok Succeeded
	assert_eq volshift "$(jp pod "$(kubectl get pods -n volshift-system -l job-name=volshift-migrate-ok \
		-o 'jsonpath={.items[0].metadata.name}')" '{.spec.serviceAccountName}' volshift-system)" "the Job's ServiceAccount"
	job_log ok | grep -q "Done: 2 claims moved" || fail "no summary in the Job's log: $(job_log ok | tail -20)"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "the Deployment's claim"
	assert_eq shared "$(jp pvc data-db-0 '{.spec.storageClassName}')" "the StatefulSet's claim"
	ready deployment web
	ready statefulset db
	assert_eq hello-web "$(cat "$(claim_dir web)/payload")" "the Deployment's data"
	assert_eq hello-db "$(cat "$(claim_dir data-db-0)/payload")" "the StatefulSet's data"
	no_leftovers
}

# With one rule of the roles removed (three different ones, in turn), the Job fails in its access
# check, names the rule that is missing, and the cluster outside the Job is exactly as it was.
test_job_without_a_rule_fails_naming_it() {
	app_set
	deploy_roles
	wait_for 90 "the cluster to settle" state_settled
	outside_state >"$SIM_DIR/before.json"
	local rule want n=0
	for rule in 'clusterrole volshift pods/log' 'clusterrole volshift statefulsets' 'role volshift-journal configmaps'; do
		set -- $rule
		n=$((n + 1))
		deploy_roles
		local ns=() idx
		[ "$1" = role ] && ns=(-n volshift-system)
		idx=$(kubectl get "$1" "$2" "${ns[@]}" -o json | jq --arg r "$3" '.rules | map(.resources | index($r) != null) | index(true)')
		want=$(kubectl get "$1" "$2" "${ns[@]}" -o json |
			jq -r ".rules[$idx] | \"- {apiGroups: [\\\"\(.apiGroups[0])\\\"], resources: [\(.resources[0])], verbs: [\(.verbs | join(\", \"))]}\"")
		kubectl patch "$1" "$2" "${ns[@]}" --type json -p "[{\"op\": \"remove\", \"path\": \"/rules/$idx\"}]" >/dev/null
		migrate_job "$n"
		job_ended "$n" Failed 120
		job_log "$n" >"$SIM_DIR/job-$n.log"
		grep -qF "RBAC denies" "$SIM_DIR/job-$n.log" || fail "no access check failure without $3: $(cat "$SIM_DIR/job-$n.log")"
		grep -qF -- "$want" "$SIM_DIR/job-$n.log" || fail "the missing rule '$want' is not named: $(cat "$SIM_DIR/job-$n.log")"
		assert_eq 1 "$(grep -c -- '- {apiGroups' "$SIM_DIR/job-$n.log")" "rules named without $3"
		outside_state >"$SIM_DIR/after.json"
		cmp -s "$SIM_DIR/before.json" "$SIM_DIR/after.json" ||
			fail "the Job without $3 changed the cluster: $(diff "$SIM_DIR/before.json" "$SIM_DIR/after.json" | head -40)"
	done
}

# The roles of deploy/ grant exactly what volshift's access check asks for: bound to nothing, it
# lists every permission it needs, and that list is the roles' rules. A request RBAC refuses
# anyway (a dry run does not check first) fails with kube-apiserver's words naming the permission.
test_roles_grant_exactly_what_volshift_asks() {
	app web local >/dev/null
	deploy_roles
	kubectl delete clusterrolebinding volshift >/dev/null
	kubectl delete rolebinding volshift-journal -n volshift-system >/dev/null
	local rc=0
	as_volshift "$BIN/volshift" migrate --yes --source-sc local --dest-sc shared >"$SIM_DIR/none.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit code of a refused access check"
	{
		kubectl get clusterrole volshift -o json | jq .rules
		kubectl get role volshift-journal -n volshift-system -o json | jq .rules
	} | jq -s add | permissions >"$SIM_DIR/granted"
	missing_permissions "$SIM_DIR/none.out" >"$SIM_DIR/asked"
	[ -s "$SIM_DIR/asked" ] || fail "no rules listed: $(cat "$SIM_DIR/none.out")"
	cmp -s "$SIM_DIR/granted" "$SIM_DIR/asked" ||
		fail "deploy/'s roles and volshift's access check differ (< roles, > asked): $(diff "$SIM_DIR/granted" "$SIM_DIR/asked")"
	grep -q 'configmaps\], verbs: \[get, list, create, update, delete\]}  # a Role in namespace volshift-system' \
		"$SIM_DIR/none.out" || fail "the journal's rule is not namespaced: $(cat "$SIM_DIR/none.out")"
	rc=0
	as_volshift "$BIN/volshift" migrate --dry-run --source-sc local --dest-sc shared >"$SIM_DIR/dry.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit code of a refused dry run"
	grep -qF 'User "system:serviceaccount:volshift-system:volshift" cannot list resource "storageclasses" in API group "storage.k8s.io" at the cluster scope' \
		"$SIM_DIR/dry.out" || fail "the refusal does not name the permission: $(cat "$SIM_DIR/dry.out")"
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "the claim"
}

# A migration stopped half way (killed after its first copy) is resumed or rolled back only by
# someone granted what it needs: without the ClusterRole's binding, resume and rollback stop in the
# same access check as migrate, list the rules, and change nothing; with the roles, each works.
test_resume_and_rollback_check_access_first() {
	app web local >/dev/null
	ready deployment web
	echo hello >"$(claim_dir web)/payload"
	local id cmd rc
	id=$(crash_at copy:after) || return 1
	deploy_roles
	kubectl delete clusterrolebinding volshift >/dev/null
	wait_for 90 "the cluster to settle" state_settled
	outside_state >"$SIM_DIR/before.json"
	for cmd in resume rollback; do
		rc=0
		as_volshift "$BIN/volshift" "$cmd" "$id" >"$SIM_DIR/$cmd.out" 2>&1 || rc=$?
		assert_eq 1 "$rc" "exit code of $cmd refused by the access check"
		grep -qF "RBAC denies" "$SIM_DIR/$cmd.out" || fail "$cmd did not check access first: $(cat "$SIM_DIR/$cmd.out")"
		grep -qF -- '- {apiGroups: [""], resources: [persistentvolumeclaims]' "$SIM_DIR/$cmd.out" ||
			fail "$cmd does not name the claims' rule: $(cat "$SIM_DIR/$cmd.out")"
		outside_state >"$SIM_DIR/after.json"
		cmp -s "$SIM_DIR/before.json" "$SIM_DIR/after.json" ||
			fail "$cmd without access changed the cluster: $(diff "$SIM_DIR/before.json" "$SIM_DIR/after.json" | head -40)"
	done
	deploy_roles
	as_volshift "$BIN/volshift" resume "$id" >"$SIM_DIR/resume2.out" 2>&1 ||
		fail "resume under the shipped roles failed: $(tail -20 "$SIM_DIR/resume2.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "the claim after the resume"
	ready deployment web
	assert_eq hello "$(cat "$(claim_dir web)/payload")" "the data after the resume"
}

e2e_main
