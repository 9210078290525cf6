#!/usr/bin/env bash
# End-to-end: unmodified kubectl against volshift-sim: the commands a user types every day.
. "$(dirname "$0")/lib.sh"

# Objects as manifests through create -f / apply -f, as scripts write them (the generators, which
# send protobuf: test_kubectl_generators.sh).
cm() { # cm NAME KEY=VALUE: a ConfigMap manifest
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {%s: "%s"}\n' "$1" "${2%%=*}" "${2#*=}"
}
sleeper_deployment() { # sleeper_deployment NAME: what "kubectl create deployment NAME --image=busybox -- sleep 3600" makes
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, labels: {app: $1}}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers: [{name: busybox, image: busybox, command: [sleep, "3600"]}]
YAML
}

test_create_apply_get_delete() {
	kubectl create -f - <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {tier: t1}}
data: {color: blue}
YAML
	assert_eq blue "$(jp configmap settings '{.data.color}')" "created"
	local out rc
	out=$(kubectl create -f - 2>&1 <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
YAML
) && rc=0 || rc=$?
	[ "$rc" -ne 0 ] || fail "second create succeeded"
	[[ "$out" == *AlreadyExists* || "$out" == *"already exists"* ]] || fail "AlreadyExists message: $out"
	kubectl apply -f - <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {tier: t2}}
data: {color: green, size: large}
YAML
	assert_eq green "$(jp configmap settings '{.data.color}')" "applied data"
	assert_eq t2 "$(jp configmap settings '{.metadata.labels.tier}')" "applied label"
	# not "kubectl ... | grep -q": grep may exit before kubectl has written everything, and kubectl,
	# killed by SIGPIPE, fails the pipeline (pipefail)
	[[ "$(kubectl get configmaps -o wide)" == *settings* ]] || fail "kubectl get table lacks settings"
	[[ "$(kubectl get configmap settings -o yaml)" == *'size: large'* ]] || fail "yaml output"
	kubectl delete configmap settings
	out=$(kubectl get configmap settings 2>&1) && rc=0 || rc=$?
	[ "$rc" -ne 0 ] || fail "deleted configmap still there"
	[[ "$out" == *NotFound* || "$out" == *"not found"* ]] || fail "NotFound message: $out"
}

test_patch_kinds() {
	cm p a=1 | kubectl create -f -
	kubectl patch configmap p --type=merge -p '{"data":{"b":"2"}}'
	kubectl patch configmap p --type=json -p '[{"op":"remove","path":"/data/a"}]'
	kubectl patch configmap p -p '{"metadata":{"labels":{"x":"y"}}}' # strategic, kubectl's default
	assert_eq '{"b":"2"}' "$(kubectl get configmap p -o 'jsonpath={.data}')" "data after patches"
	assert_eq y "$(jp configmap p '{.metadata.labels.x}')" "label from strategic merge"
	sleeper_deployment web | kubectl create -f -
	kubectl patch deployment web -p '{"spec":{"template":{"spec":{"containers":[{"name":"busybox","env":[{"name":"A","value":"1"}]}]}}}}'
	assert_eq "busybox|sleep 3600|A" "$(kubectl get deployment web -o 'jsonpath={.spec.template.spec.containers[0].name}|{.spec.template.spec.containers[0].command[*]}|{.spec.template.spec.containers[0].env[0].name}')" "containers merged by name"
}

test_scale_and_wait() {
	sleeper_deployment web | kubectl apply -f -
	kubectl wait --for=condition=Available deployment/web --timeout=60s
	kubectl scale deployment web --replicas=3
	wait_for 60 "3 ready" field_is deployment web '{.status.readyReplicas}' 3
	assert_eq 3 "$(kubectl get pods -l app=web -o name | wc -l | tr -d ' ')" "pod count"
	kubectl wait --for=condition=Ready pod -l app=web --timeout=60s
	kubectl scale deployment web --replicas=0
	kubectl wait --for=delete pod -l app=web --timeout=60s
}

test_logs_follow() {
	kubectl run talker --image=busybox --restart=Never --command -- /bin/sh -c 'for i in 1 2 3; do echo line $i; sleep 0.3; done'
	wait_for 30 "talker started" bash -c 'p=$(kubectl get pod talker -o jsonpath={.status.phase}); [ "$p" = Running ] || [ "$p" = Succeeded ]'
	local out
	out=$(timeout 30 kubectl logs -f talker)
	assert_eq "line 1
line 2
line 3" "$out" "followed log"
	wait_for 20 "talker Succeeded" field_is pod talker '{.status.phase}' Succeeded
	assert_eq 0 "$(jp pod talker '{.status.containerStatuses[0].state.terminated.exitCode}')" "exit code"
}

test_failed_container_reports_exit_code() {
	kubectl run crasher --image=busybox --restart=Never --command -- /bin/sh -c 'exit 7'
	wait_for 30 "crasher Failed" field_is pod crasher '{.status.phase}' Failed
	assert_eq 7 "$(jp pod crasher '{.status.containerStatuses[0].state.terminated.exitCode}')" "exit code"
}

test_api_errors_and_pagination() {
	local i out
	for i in 1 2 3 4 5; do cm "c$i" k=v | kubectl create -f - >/dev/null; done
	kubectl label configmap c2 c4 tier=even >/dev/null
	out=$(kubectl get --raw '/api/v1/namespaces/default/configmaps?limit=2')
	echo "$out" | grep -q '"continue"' || fail "no continue token with limit=2"
	assert_eq 5 "$(kubectl get configmaps --chunk-size=2 -o name | grep -c '/c[0-9]')" "paged list through kubectl"
	assert_eq "c2 c4" "$(kubectl get configmaps -l 'tier in (even)' -o 'jsonpath={.items[*].metadata.name}')" "set-based selector"
	assert_eq "c1" "$(kubectl get configmaps --field-selector metadata.name=c1 -o 'jsonpath={.items[*].metadata.name}')" "field selector"
	out=$(kubectl get pvc --field-selector spec.volumeName=x 2>&1) && fail "unsupported field selector accepted" || true
	[[ "$out" == *"field label not supported"* || "$out" == *BadRequest* || "$out" == *"not supported"* ]] || fail "message: $out"
	# A stale resourceVersion is refused with a Conflict.
	kubectl get configmap c1 -o json >"$SIM_DIR/c1.json"
	kubectl label configmap c1 changed=yes >/dev/null
	out=$(kubectl replace -f "$SIM_DIR/c1.json" 2>&1) && fail "stale replace accepted" || true
	[[ "$out" == *"has been modified"* || "$out" == *Conflict* ]] || fail "conflict message: $out"
	# PVC spec is immutable except the request.
	kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: fixed}
spec: {storageClassName: shared, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
YAML
	out=$(kubectl patch pvc fixed -p '{"spec":{"storageClassName":"local"}}' 2>&1) && fail "class change accepted" || true
	[[ "$out" == *Invalid* || "$out" == *immutable* || "$out" == *Forbidden* ]] || fail "422 message: $out"
}
# pod_status NAME: the STATUS column of "kubectl get pod NAME".
pod_status() {
	kubectl get pod "$1" --no-headers | awk '{print $3}'
}

status_is() { # status_is NAME STATUS
	[ "$(pod_status "$1")" = "$2" ]
}

# init_pod NAME POLICY: a pod whose init container "bad" fails; its container "main" says if it ran.
init_pod() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: $2
  initContainers: [{name: bad, image: busybox, command: [sh, -c, 'echo bad ran; exit 3']}]
  containers: [{name: main, image: busybox, command: [sh, -c, 'echo main ran; exec sleep 600']}]
YAML
}

# Init containers run one after the other before the pod's container, on the pod's volumes: each
# writes to an emptyDir, the second waits for a file the test creates (a hostPath), and
# kubectl get pods shows the progress; each has its own log.
test_init_containers_run_in_order() {
	mkdir -p "$SIM_DIR/gate"
	kubectl create -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ordered}
spec:
  volumes: [{name: w, emptyDir: {}}, {name: gate, hostPath: {path: $SIM_DIR/gate}}]
  initContainers:
  - {name: first, image: busybox, command: [sh, -c, 'echo first >> /w/order; echo first here'],
     volumeMounts: [{name: w, mountPath: /w}]}
  - {name: second, image: busybox, command: [sh, -c, 'echo second >> /w/order; until [ -e /gate/open ]; do sleep 0.1; done'],
     volumeMounts: [{name: w, mountPath: /w}, {name: gate, mountPath: /gate}]}
  containers:
  - {name: main, image: busybox, command: [sh, -c, 'echo main >> /w/order; cat /w/order; exec sleep 600'],
     volumeMounts: [{name: w, mountPath: /w}]}
YAML
	wait_for 60 "Init:1/2 (first done, second running)" status_is ordered Init:1/2
	assert_eq Pending "$(jp pod ordered '{.status.phase}')" "phase while the init containers run"
	assert_eq False "$(jp pod ordered '{.status.conditions[?(@.type=="Initialized")].status}')" "Initialized"
	assert_eq "first here" "$(kubectl logs ordered -c first)" "log of the first init container"
	local out
	out=$(kubectl logs ordered -c main 2>&1) && fail "the container has a log before the init containers are done: $out"
	[[ "$out" == *'is waiting to start: PodInitializing'* ]] || fail "kubectl logs -c main said: $out"
	touch "$SIM_DIR/gate/open"
	wait_for 60 "ordered Running" status_is ordered Running
	assert_eq "first
second
main" "$(kubectl logs ordered -c main)" "order of the runs"
	assert_eq True "$(jp pod ordered '{.status.conditions[?(@.type=="Initialized")].status}')" "Initialized"
	assert_eq "Completed Completed" "$(jp pod ordered '{.status.initContainerStatuses[*].state.terminated.reason}')" \
		"init container states"
}

# A failing init container: with restartPolicy Never the pod fails; with OnFailure it runs again
# under the kubelet's back-off and the pod stays Pending (Init:Error, then Init:CrashLoopBackOff).
# The pod's container never runs.
test_failing_init_container() {
	init_pod never Never | kubectl create -f -
	init_pod retried OnFailure | kubectl create -f -
	wait_for 60 "never Failed" field_is pod never '{.status.phase}' Failed
	assert_eq Init:Error "$(pod_status never)" "STATUS of the Never pod"
	wait_for 60 "retried Init:Error" status_is retried Init:Error
	wait_for 120 "retried Init:CrashLoopBackOff" status_is retried Init:CrashLoopBackOff
	assert_eq Pending "$(jp pod retried '{.status.phase}')" "phase of the OnFailure pod"
	[ "$(jp pod retried '{.status.initContainerStatuses[0].restartCount}')" -ge 1 ] || fail "bad was not restarted"
	[[ "$(kubectl logs retried -c bad)" == "bad ran"* ]] || fail "log of bad: $(kubectl logs retried -c bad 2>&1)"
	local pod out
	for pod in never retried; do
		out=$(kubectl logs "$pod" -c main 2>&1) && fail "$pod's container ran: $out"
		[[ "$out" == *'is waiting to start: PodInitializing'* ]] || fail "kubectl logs $pod -c main said: $out"
	done
}

job_manifest() { # job_manifest NAME COMPLETIONS
	cat <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  completions: $2
  parallelism: $2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, 'echo done']}]
YAML
}

# A Job's counts live in its status: deleting its finished pods leaves succeeded and Complete as
# they were. A second Job run to completion after the deletion shows that the controller has
# passed over the first since.
test_job_keeps_its_counts_when_its_pods_go() {
	job_manifest twice 2 | kubectl create -f -
	kubectl wait --for=condition=Complete job/twice --timeout=60s
	assert_eq 2 "$(jp job twice '{.status.succeeded}')" "succeeded"
	kubectl delete pods -l job-name=twice --wait=true
	assert_eq 0 "$(kubectl get pods -l job-name=twice -o name | wc -l | tr -d ' ')" "pods left"
	job_manifest after 1 | kubectl create -f -
	kubectl wait --for=condition=Complete job/after --timeout=60s
	assert_eq 2 "$(jp job twice '{.status.succeeded}')" "succeeded after the pods went"
	assert_eq True "$(jp job twice '{.status.conditions[?(@.type=="Complete")].status}')" "Complete"
	assert_eq 2/2 "$(kubectl get job twice --no-headers | awk '{print $2}')" "COMPLETIONS"
}
e2e_main
