#!/usr/bin/env bash
# End-to-end: plans (volshift run, resume, undo, abort, artifacts, status) on the two examples of
# examples/: linstor-db (seed 001: the LINSTOR database moved from etcd to the k8s backend) and
# control-plane (seed 003: stages in the ConfigMap control-plane-migration, passes as Jobs that
# create custom ReplicatedVolumes in Maintenance mode, then activate them). After a run: the data
# moved, the backup artifact kept and equal to the original, the controllers at their scale, each
# tool run once, nothing of the run left but its journal, logs and artifacts.
# After an undo: everything as it was before the run.
#
# PLAN_POINTS (space-separated failpoints: plan:intent, plan:applied, plan:done) chooses the crash
# matrix: volshift killed at that boundary of every step of both examples, then resumed (the run
# finishes, each step's effect once) and, apart, undone from there (everything as before). Without
# it (make test): the other tests and a few points. `make faults` runs every point.
. "$(dirname "$0")/migrate_lib.sh"

EX="$E2E_ROOT/examples"

vs() {
	"$BIN/volshift" "$@"
}

# The plan run's status as JSON.
run_status() {
	vs status "$1" --output json | jq -c 'select(.event == "plan-run-status") | .run'
}

# no_run_leftovers NS: no Job and no pod of a run left in NS.
no_run_leftovers() {
	local left
	left=$(kubectl get jobs,pods -n "$1" -o name | grep '/vs-' || true)
	[ -z "$left" ] || fail "left by the run in $1: $left"
}

# runs_log DIR: the runs noted in DIR/runs.log, on one line.
runs_log() {
	tr '\n' ' ' <"$1/runs.log" | sed 's/ $//'
}

# ---- linstor-db (seed 001) ----------------------------------------------------------------------

LINSTOR_STEPS=9

linstor_setup() {
	kubectl apply -f "$EX/linstor-db/setup.yaml" >/dev/null
	ready deployment cs-controller piraeus
	ready deployment etcd piraeus
	wait_for 30 "the controller's database" test -s "$(claim_dir etcd-data piraeus)/db.json"
	ORIGINAL=$(cat "$(claim_dir etcd-data piraeus)/db.json")
}

controller_says() {
	grep -q "$1" <<<"$(kubectl logs -n piraeus deploy/cs-controller 2>/dev/null)"
}

linstor_migrated() {
	assert_eq "$ORIGINAL" "$(cat "$(claim_dir k8s-data piraeus)/db.json")" "the database on the k8s backend"
	assert_eq 1 "$(jp deployment cs-controller '{.spec.replicas}' piraeus)" "controller replicas"
	ready deployment cs-controller piraeus
	wait_for 30 "the controller on the k8s backend" controller_says "backend k8s,"
	[[ "$(jp configmap cs-controller-config '{.data.linstor\.toml}' piraeus)" == *'"k8s"'* ]] || fail "configuration not switched"
	! kubectl get deployment etcd -n piraeus >/dev/null 2>&1 || fail "etcd is still there"
	assert_eq "export import" "$(runs_log "$(claim_dir backup piraeus)")" "tool runs (each once)"
	vs artifacts linstor-db-to-k8s --dir "$SIM_DIR/arts" >/dev/null
	assert_eq "$ORIGINAL" "$(cat "$SIM_DIR/arts/backup-before-migration.json")" "backup artifact"
	grep -q "export-db: exported" "$SIM_DIR/arts/export.log" || fail "the export's log was not kept"
	assert_eq done "$(run_status linstor-db-to-k8s | jq -r .phase)" "run phase"
	no_run_leftovers piraeus
}

linstor_as_before() {
	[[ "$(jp configmap cs-controller-config '{.data.linstor\.toml}' piraeus)" == *'"etcd://'* ]] || fail "configuration not restored"
	assert_eq 1 "$(jp deployment cs-controller '{.spec.replicas}' piraeus)" "controller replicas"
	ready deployment cs-controller piraeus
	wait_for 30 "the controller on etcd" controller_says "backend etcd://"
	ready deployment etcd piraeus
	assert_eq "$ORIGINAL" "$(cat "$(claim_dir etcd-data piraeus)/db.json")" "the etcd database"
	[ ! -e "$(claim_dir k8s-data piraeus)/db.json" ] || fail "the import was not undone"
	assert_eq undone "$(run_status linstor-db-to-k8s | jq -r .phase)" "run phase"
	no_run_leftovers piraeus
}

linstor_run() {
	vs run "$EX/linstor-db/plan.yaml" --yes "$@"
}

# ---- control-plane (seed 003) -------------------------------------------------------------------

CONTROL_STEPS=12
CP=d8-sds-replicated-volume

control_setup() {
	kubectl apply -f "$EX/control-plane/crds.yaml" >/dev/null
	kubectl wait --for=condition=Established --timeout=30s crd --all >/dev/null
	kubectl apply -f "$EX/control-plane/setup.yaml" >/dev/null
	ready deployment linstor-controller "$CP"
	wait_for 30 "LINSTOR's database" test -s "$(claim_dir linstor-db "$CP")/db.txt"
	ORIGINAL=$(cat "$(claim_dir linstor-db "$CP")/db.txt")
}

# The ReplicatedVolumes (custom resources) as "NAME SIZE MAINTENANCE PHASE" lines.
volumes() {
	kubectl get replicatedvolumes.storage.deckhouse.io -o json |
		jq -r '.items[] | "\(.metadata.name) \(.spec.size) \(.spec.maintenance) \(.status.phase)"' | sort
}

# volumes_as MAINTENANCE PHASE: the volumes of LINSTOR's database, each with that mode and phase.
volumes_as() {
	sed "s/\$/ $1 $2/" <<<"$ORIGINAL" | sort
}

# The module's setting newControlPlane, in its ModuleConfig (a custom resource).
new_control_plane() {
	kubectl get moduleconfigs.deckhouse.io sds-replicated-volume -o 'jsonpath={.spec.settings.newControlPlane}'
}

control_migrated() {
	assert_eq "$(volumes_as false Active)" "$(volumes)" "replicated volumes"
	assert_eq all_completed "$(jp configmap control-plane-migration '{.data.state}' "$CP")" "state"
	assert_eq "all-completed: done" "$(jp configmap control-plane-migration '{.data.state\.step}' "$CP")" "step boundary"
	assert_eq true "$(new_control_plane)" "newControlPlane"
	assert_eq 0 "$(jp deployment linstor-controller '{.spec.replicas}' "$CP")" "LINSTOR replicas"
	assert_eq 1 "$(jp deployment sds-controller '{.spec.replicas}' "$CP")" "agent replicas"
	ready deployment sds-controller "$CP"
	assert_eq "pass1 pass2" "$(runs_log "$(claim_dir linstor-db "$CP")")" "pass runs (each once)"
	vs artifacts sds-control-plane --dir "$SIM_DIR/arts" >/dev/null
	assert_eq "$ORIGINAL" "$(cat "$SIM_DIR/arts/linstor-db-backup.txt")" "backup artifact"
	assert_eq done "$(run_status sds-control-plane | jq -r .phase)" "run phase"
	no_run_leftovers "$CP"
}

control_as_before() {
	assert_eq "" "$(volumes)" "replicated volumes"
	assert_eq not_started "$(jp configmap control-plane-migration '{.data.state}' "$CP")" "state"
	assert_eq false "$(new_control_plane)" "newControlPlane"
	assert_eq 1 "$(jp deployment linstor-controller '{.spec.replicas}' "$CP")" "LINSTOR replicas"
	ready deployment linstor-controller "$CP"
	assert_eq 0 "$(jp deployment sds-controller '{.spec.replicas}' "$CP")" "agent replicas"
	assert_eq undone "$(run_status sds-control-plane | jq -r .phase)" "run phase"
	no_run_leftovers "$CP"
}

control_run() {
	vs run "$EX/control-plane/plan.yaml" --yes "$@"
}

# ---- the tests -----------------------------------------------------------------------------------

test_plan_linstor_db_end_to_end_then_undo() {
	linstor_setup
	linstor_run >"$SIM_DIR/run.out" 2>&1 || fail "run failed: $(tail -5 "$SIM_DIR/run.out")"
	grep -q '^\[9/9\] remove-etcd: done' "$SIM_DIR/run.out" || fail "progress: $(cat "$SIM_DIR/run.out")"
	linstor_migrated
	vs undo linstor-db-to-k8s >"$SIM_DIR/undo.out" 2>&1 || fail "undo failed: $(tail -5 "$SIM_DIR/undo.out")"
	linstor_as_before
}

test_plan_control_plane_end_to_end_then_undo() {
	control_setup
	control_run --output json >"$SIM_DIR/run.out" 2>&1 || fail "run failed: $(tail -5 "$SIM_DIR/run.out")"
	assert_eq 12 "$(jq -s '[.[] | select(.event == "step" and .state == "done")] | length' "$SIM_DIR/run.out")" "steps done"
	control_migrated
	vs undo sds-control-plane >"$SIM_DIR/undo.out" 2>&1 || fail "undo failed: $(tail -5 "$SIM_DIR/undo.out")"
	control_as_before
}

# A bad plan is refused with its line, and nothing is recorded.
test_plan_refused_before_anything() {
	sed 's/replicas: restore/replicas: back/' "$EX/linstor-db/plan.yaml" >"$SIM_DIR/bad.yaml"
	local out rc=0
	out=$(vs run "$SIM_DIR/bad.yaml" --yes 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit status"
	[[ "$out" == *"bad.yaml:"*":"*": spec.steps[5].scale.replicas: expected an integer >= 0 or \"restore\""* ]] || fail "message: $out"
	assert_eq 0 "$(kubectl get configmap -n volshift-system -o name 2>/dev/null | wc -l)" "journals"
}

# A pass that fails keeps its Job and log; resume deletes that Job and runs it again (seed 003's
# recovery procedure); the stage shows the failure meanwhile.
test_plan_failed_job_is_run_again_by_resume() {
	control_setup
	kubectl get configmap migration-tools -n "$CP" -o json |
		jq '.data["pass2.sh"] = "[ ! -f /linstor/fail-pass2 ] || { echo injected failure; exit 1; }\n" + .data["pass2.sh"]' |
		kubectl replace -f - >/dev/null
	touch "$(claim_dir linstor-db "$CP")/fail-pass2"
	local rc=0
	control_run >"$SIM_DIR/run.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status of the failed run"
	grep -q "injected failure" "$SIM_DIR/run.out" || fail "the pass's log was not shown: $(cat "$SIM_DIR/run.out")"
	assert_eq failed "$(run_status sds-control-plane | jq -r .phase)" "phase after the failure"
	assert_eq "pass2: failed" "$(jp configmap control-plane-migration '{.data.state\.step}' "$CP")" "step boundary"
	assert_eq "$(volumes_as true Maintenance)" "$(volumes)" "replicated volumes as pass 1 left them"
	assert_eq 1 "$(kubectl get jobs -n "$CP" -l volshift.io/step=pass2 -o name | wc -l)" "the failed Job is kept"
	# a second run of the same plan is refused while this one is unfinished
	rc=0
	control_run >"$SIM_DIR/again.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "second run"
	grep -q "unfinished run" "$SIM_DIR/again.out" || fail "second run: $(cat "$SIM_DIR/again.out")"
	rm "$(claim_dir linstor-db "$CP")/fail-pass2"
	vs resume sds-control-plane >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	grep -q "pass2: retry" "$SIM_DIR/resume.out" || fail "the failed Job was not deleted: $(cat "$SIM_DIR/resume.out")"
	assert_eq "$(volumes_as false Active)" "$(volumes)" "replicated volumes"
	assert_eq "pass1 pass2" "$(runs_log "$(claim_dir linstor-db "$CP")")" "pass runs"
	assert_eq done "$(run_status sds-control-plane | jq -r .phase)" "phase"
	no_run_leftovers "$CP"
}

# The wait on the ReplicatedVolumes' {.status.phase} (custom resources) waits for all of them: with
# a pass 2 that leaves them in Maintenance it runs out of time and says what it saw.
test_plan_wait_on_custom_resources() {
	control_setup
	kubectl get configmap migration-tools -n "$CP" -o json |
		jq '.data["pass2.sh"] |= sub(".*status.*Active.*\n"; "")' | kubectl replace -f - >/dev/null
	sed 's/timeout: 1m/timeout: 3s/' "$EX/control-plane/plan.yaml" >"$SIM_DIR/plan.yaml"
	local rc=0
	vs run "$SIM_DIR/plan.yaml" --yes >"$SIM_DIR/run.out" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status"
	grep -q "timed out after 3s waiting for storage.deckhouse.io/v1alpha1 ReplicatedVolume .*{.status.phase} is Maintenance" \
		"$SIM_DIR/run.out" || fail "message: $(tail -3 "$SIM_DIR/run.out")"
	assert_eq "$(volumes_as false Maintenance)" "$(volumes)" "replicated volumes"
}

# volshift abort stops a run at the next step boundary; resume finishes it.
test_plan_abort_at_a_step_boundary() {
	linstor_setup
	VOLSHIFT_FAILPOINTS="plan:before=sleep:3000@4" linstor_run >"$SIM_DIR/run.out" 2>&1 &
	local pid=$! rc=0
	wait_for 20 "step 3 done" grep -q '^\[3/9\] export: done' "$SIM_DIR/run.out"
	vs abort linstor-db-to-k8s >/dev/null
	wait "$pid" || rc=$?
	assert_eq 1 "$rc" "exit status of the aborted run"
	assert_eq aborted "$(run_status linstor-db-to-k8s | jq -r .phase)" "phase"
	assert_eq null "$(run_status linstor-db-to-k8s | jq -r '.steps["step/switch-config"]')" "the next step"
	vs resume linstor-db-to-k8s >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	linstor_migrated
}

# undo stops at a step marked undo: none and says so; the steps after it are undone.
test_plan_undo_stops_at_an_irreversible_step() {
	cat >"$SIM_DIR/plan.yaml" <<'YAML'
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: three}
spec:
  steps:
  - {name: a, apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: default}, data: {x: "1"}}}
  - {name: b, apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: default}}, undo: none}
  - {name: c, apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: default}}}
YAML
	vs run "$SIM_DIR/plan.yaml" --yes >/dev/null
	local out rc=0
	out=$(vs undo three 2>&1) || rc=$?
	assert_eq 1 "$rc" "exit status"
	[[ "$out" == *"step b is marked undo: none: undo stopped there"* ]] || fail "message: $out"
	! kubectl get configmap c >/dev/null 2>&1 || fail "c (after b) was not undone"
	kubectl get configmap b >/dev/null || fail "b was undone"
	assert_eq 1 "$(jp configmap a '{.data.x}')" "a, before b"
	assert_eq undo-stopped "$(run_status three | jq -r .phase)" "phase"
}

# A JSON patch (not idempotent) applied once although volshift was killed between the patch and its
# record; a strategic patch; a wait that runs out of time says what it saw last.
test_plan_json_patch_once_and_a_wait_that_times_out() {
	app web local >/dev/null
	ready deployment web
	cat >"$SIM_DIR/plan.yaml" <<'YAML'
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: patches}
spec:
  steps:
  - name: append
    patch:
      apiVersion: apps/v1
      kind: Deployment
      namespace: default
      name: web
      type: json
      patch: [{op: add, path: /spec/template/spec/containers/0/command/-, value: extra}]
  - name: label
    patch: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: web, type: strategic,
            patch: {metadata: {labels: {tier: db}}}}
  - name: never
    wait: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: web, jsonPath: '{.spec.replicas}', equals: 5, timeout: 2s}
YAML
	local rc=0 out
	VOLSHIFT_FAILPOINTS="plan:applied=crash@1" vs run "$SIM_DIR/plan.yaml" --yes >"$SIM_DIR/run.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "killed after the patch"
	rc=0
	out=$(vs resume patches 2>&1) || rc=$?
	assert_eq 1 "$rc" "resume ends at the wait"
	[[ "$out" == *"timed out after 2s waiting for apps/v1 Deployment default/web; last seen: web: {.spec.replicas} is 1"* ]] || fail "message: $out"
	assert_eq 4 "$(kubectl get deployment web -o json | jq '.spec.template.spec.containers[0].command | length')" "command entries (the JSON patch once)"
	assert_eq db "$(jp deployment web '{.metadata.labels.tier}')" "strategic patch"
	vs undo patches >/dev/null
	assert_eq 3 "$(kubectl get deployment web -o json | jq '.spec.template.spec.containers[0].command | length')" "command entries after undo"
	assert_eq "" "$(jp deployment web '{.metadata.labels.tier}')" "label after undo"
}

# ---- the migrate step ----------------------------------------------------------------------------

# A plan that moves the claims of class local to shared with volshift migrate's workflow, then
# makes shared the default class.
migrate_plan() {
	cat >"$SIM_DIR/migrate.yaml" <<'YAML'
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: to-shared}
spec:
  steps:
  - name: move
    migrate: {sourceStorageClass: local, destStorageClass: shared, parallel: 1, verify: checksum}
  - name: default
    defaultStorageClass: shared
YAML
}

migrate_setup() {
	app web local >/dev/null
	ready deployment web
	fill_tree "$(claim_dir web)"
	SUM=$(tree_sum "$(claim_dir web)")
	migrate_plan
}

test_plan_migrate_step_then_undo() {
	migrate_setup
	vs run "$SIM_DIR/migrate.yaml" --yes >"$SIM_DIR/run.out" 2>&1 || fail "run failed: $(tail -5 "$SIM_DIR/run.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	[ "$SUM" = "$(tree_sum "$(claim_dir web)")" ] || fail "data differs after the migrate step"
	ready deployment web
	assert_eq true "$(jp storageclass shared '{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}')" "default class"
	assert_eq 1 "$(vs status --output json | jq -s '[.[] | select(.event != "plan-run-status" and .phase == "done")] | length')" \
		"the step's migration, listed beside the run"
	no_leftovers
	vs undo to-shared >"$SIM_DIR/undo.out" 2>&1 || fail "undo failed: $(tail -5 "$SIM_DIR/undo.out")"
	assert_eq "" "$(jp storageclass shared '{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}' | sed 's/false//')" "default class after undo"
	# the application ran on the destination: its claim stays there, as volshift rollback leaves it
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class after undo"
	grep -q "warning" "$SIM_DIR/undo.out" || fail "undo did not say the claim stays: $(cat "$SIM_DIR/undo.out")"
}

# Killed inside the migration: resume continues that migration (not a second one); undo instead
# rolls it back, the claim on its original volume.
migrate_killed_in_the_copy() {
	migrate_setup
	local rc=0
	VOLSHIFT_FAILPOINTS="copy:before=crash" vs run "$SIM_DIR/migrate.yaml" --yes >"$SIM_DIR/run.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "killed in the copy"
}

test_plan_migrate_step_killed_then_resumed() {
	migrate_killed_in_the_copy
	vs resume to-shared >"$SIM_DIR/resume.out" 2>&1 || fail "resume failed: $(tail -5 "$SIM_DIR/resume.out")"
	assert_eq shared "$(jp pvc web '{.spec.storageClassName}')" "claim class"
	[ "$SUM" = "$(tree_sum "$(claim_dir web)")" ] || fail "data differs after resume"
	assert_eq 1 "$(vs status --output json | jq -s '[.[] | select(.event != "plan-run-status" and .id != null)] | length')" "migrations"
	no_leftovers
}

test_plan_migrate_step_killed_then_undone() {
	migrate_killed_in_the_copy
	vs undo to-shared >"$SIM_DIR/undo.out" 2>&1 || fail "undo failed: $(tail -5 "$SIM_DIR/undo.out")"
	assert_eq local "$(jp pvc web '{.spec.storageClassName}')" "claim class after undo"
	[ "$SUM" = "$(tree_sum "$(claim_dir web)")" ] || fail "data differs after undo"
	ready deployment web
	no_leftovers
}

# ---- the crash matrix ----------------------------------------------------------------------------

# crash_then SCENARIO POINT N THEN: volshift killed at POINT of step N, then THEN (resume or undo).
crash_then() {
	local scenario=$1 point=$2 n=$3 then=$4 name rc=0
	name=$([ "$scenario" = linstor ] && echo linstor-db-to-k8s || echo sds-control-plane)
	"${scenario}_setup"
	VOLSHIFT_FAILPOINTS="$point=crash@$n" "${scenario}_run" >"$SIM_DIR/first.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "first run killed at $point@$n: $(tail -3 "$SIM_DIR/first.out")"
	vs "$then" "$name" >"$SIM_DIR/$then.out" 2>&1 || fail "$then failed: $(tail -5 "$SIM_DIR/$then.out")"
	if [ "$then" = resume ]; then
		"${scenario}_migrated"
	else
		"${scenario}_as_before"
	fi
}

# add_crash_test SCENARIO POINT N THEN
add_crash_test() {
	eval "test_plan_${1}_${4}_after_crash_at_${2//[:-]/_}_step_$3() { crash_then $1 $2 $3 $4; }"
}

if [ -z "${PLAN_POINTS:-}" ]; then
	add_crash_test linstor plan:applied 3 resume
	add_crash_test linstor plan:intent 5 undo
	add_crash_test control plan:applied 5 resume
	add_crash_test control plan:intent 10 undo
else
	for point in $PLAN_POINTS; do
		for n in $(seq 1 $LINSTOR_STEPS); do
			add_crash_test linstor "$point" "$n" resume
			add_crash_test linstor "$point" "$n" undo
		done
		for n in $(seq 1 $CONTROL_STEPS); do
			add_crash_test control "$point" "$n" resume
			add_crash_test control "$point" "$n" undo
		done
	done
fi

# ---- Ctrl-C in the middle of a long step ---------------------------------------------------------

# stop_mid_step NAME STEP: volshift run of $SIM_DIR/plan.yaml (plan NAME), sent SIGINT once step
# STEP (the first) waits: it ends within seconds, the step unfinished, with the commands to go on.
stop_mid_step() {
	"$BIN/volshift" run "$SIM_DIR/plan.yaml" --yes >"$SIM_DIR/run.out" 2>&1 &
	local pid=$! rc=0 start
	wait_for 20 "step $2 started" grep -q "^\[1/2\] $2: started" "$SIM_DIR/run.out"
	sleep 1 # inside the step's wait
	start=$SECONDS
	kill -INT "$pid"
	wait_for 5 "volshift to exit after SIGINT" bash -c "! kill -0 $pid"
	wait "$pid" || rc=$?
	assert_eq 1 "$rc" "exit status of the stopped run"
	[ $((SECONDS - start)) -le 4 ] || fail "exited $((SECONDS - start))s after SIGINT"
	grep -q "'volshift resume $1' continues it" "$SIM_DIR/run.out" || fail "no resume command: $(tail -5 "$SIM_DIR/run.out")"
	grep -q "stopped on request" "$SIM_DIR/run.out" || fail "the stop is not explained: $(tail -5 "$SIM_DIR/run.out")"
	assert_eq aborted "$(run_status "$1" | jq -r .phase)" "phase"
	assert_eq intent "$(run_status "$1" | jq -r ".steps[\"step/$2\"].state")" "the stopped step"
}

# resume_mid_step NAME STEP GO...: volshift resume NAME goes on waiting in step STEP until the
# command GO lets it end, then finishes the run.
resume_mid_step() {
	local name=$1 step=$2
	shift 2
	"$BIN/volshift" resume "$name" >"$SIM_DIR/resume.out" 2>&1 &
	local pid=$! rc=0
	wait_for 20 "step $step resumed" grep -q "^\[1/2\] $step: started" "$SIM_DIR/resume.out"
	sleep 2
	kill -0 "$pid" 2>/dev/null || fail "resume did not wait in $step: $(cat "$SIM_DIR/resume.out")"
	"$@" >/dev/null
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "exit status of resume: $(tail -5 "$SIM_DIR/resume.out")"
	assert_eq done "$(run_status "$name" | jq -r .phase)" "phase after resume"
	kubectl get configmap after >/dev/null || fail "the step after $step did not run"
}

# The first Ctrl-C ends a wait step of minutes within seconds (not at its end); resume waits again.
test_plan_ctrl_c_ends_a_long_wait_step() {
	cat >"$SIM_DIR/plan.yaml" <<'YAML'
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: gated}
spec:
  steps:
  - name: hold
    wait: {apiVersion: v1, kind: ConfigMap, namespace: default, name: gate, jsonPath: '{.data.go}', equals: "yes", timeout: 10m}
  - {name: after, apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: after, namespace: default}}}
YAML
	stop_mid_step gated hold
	! kubectl get configmap after >/dev/null 2>&1 || fail "the step after the stopped one ran"
	resume_mid_step gated hold kubectl create configmap gate --from-literal=go=yes
}

# The first Ctrl-C ends a job step within seconds; resume finds the same Job again (run once).
test_plan_ctrl_c_ends_a_long_job_step() {
	cat >"$SIM_DIR/plan.yaml" <<YAML
apiVersion: volshift.io/v1alpha1
kind: Plan
metadata: {name: slow-job}
spec:
  steps:
  - name: work
    job:
      namespace: default
      timeout: 10m
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
            - {name: work, image: busybox, command: [sh, -c, 'echo run >>$SIM_DIR/job.runs; until [ -e $SIM_DIR/go ]; do sleep 0.2; done']}
  - {name: after, apply: {apiVersion: v1, kind: ConfigMap, metadata: {name: after, namespace: default}}}
YAML
	stop_mid_step slow-job work
	resume_mid_step slow-job work touch "$SIM_DIR/go"
	assert_eq 1 "$(wc -l <"$SIM_DIR/job.runs")" "runs of the Job's pod"
}

e2e_main
