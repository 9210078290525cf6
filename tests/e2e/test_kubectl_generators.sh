#!/usr/bin/env bash
# End-to-end: kubectl's generators (kubectl create <kind>, which send their objects as protobuf,
# and kubectl expose, which sends JSON) against volshift-sim: each creates its object and kubectl get shows it with
# what the command asked for; a protobuf field volshift-sim does not know is refused with 415.
. "$(dirname "$0")/lib.sh"

# field KIND NAME JSONPATH [NS]: one field of the object, which must exist.
field() {
	kubectl get "$1" "$2" -n "${4:-default}" -o "jsonpath=$3"
}

# generate WHAT CMD...: runs a generator; it must say "created" (or "exposed") and send protobuf.
generate() {
	local what=$1 out
	shift
	out=$(kubectl -v=8 "$@" 2>&1) || fail "$what: kubectl $*: $(grep -v '^I' <<<"$out" | tail -3)"
	grep -q 'Content-Type: application/vnd.kubernetes.protobuf' <<<"$out" || fail "$what: kubectl did not send protobuf"
}

test_core_generators() {
	generate namespace create namespace gen-ns
	assert_eq Active "$(kubectl get namespace gen-ns -o jsonpath='{.status.phase}')" "namespace phase"
	generate configmap create configmap cm1 --from-literal=a=1 --from-literal=b=two
	assert_eq "1 two" "$(field configmap cm1 '{.data.a} {.data.b}')" "configmap data"
	generate secret create secret generic s1 --from-literal=pw=hunter2
	assert_eq hunter2 "$(field secret s1 '{.data.pw}' | base64 -d)" "secret data"
	generate docker-registry create secret docker-registry reg --docker-server=r.example --docker-username=u --docker-password=p
	assert_eq kubernetes.io/dockerconfigjson "$(field secret reg '{.type}')" "docker-registry type"
	field secret reg '{.data.\.dockerconfigjson}' | base64 -d | jq -e '.auths["r.example"].username == "u"' >/dev/null ||
		fail "docker-registry: .dockerconfigjson"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SIM_DIR/k.pem" -out "$SIM_DIR/c.pem" -days 1 -subj /CN=gen 2>/dev/null
	generate tls create secret tls tls1 --cert="$SIM_DIR/c.pem" --key="$SIM_DIR/k.pem"
	assert_eq kubernetes.io/tls "$(field secret tls1 '{.type}')" "tls type"
	assert_eq "$(cat "$SIM_DIR/c.pem")" "$(field secret tls1 '{.data.tls\.crt}' | base64 -d)" "tls certificate"
	generate serviceaccount create serviceaccount sa1
	field serviceaccount sa1 '{.metadata.uid}' | grep -q . || fail "serviceaccount has no uid"
	generate quota create quota q1 --hard=cpu=1,memory=1G,pods=2 --scopes=BestEffort
	assert_eq "1 1G 2 BestEffort" "$(field quota q1 '{.spec.hard.cpu} {.spec.hard.memory} {.spec.hard.pods} {.spec.scopes[0]}')" "quota"
	# one kubectl get of all seven (a namespace comes with its default ServiceAccount and CA ConfigMap)
	assert_eq 7 "$(kubectl get namespace/gen-ns configmap/cm1 secret/s1 secret/reg secret/tls1 serviceaccount/sa1 \
		quota/q1 -o name | wc -l)" "objects kubectl get lists"
}

test_workload_generators() {
	generate deployment create deployment web --image=busybox --replicas=2 --port=8080 -- sleep 3600
	assert_eq "2 busybox 8080 sleep" "$(field deployment web '{.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].command[0]}')" "deployment"
	wait_for 30 "the deployment's pods to run" field_is deployment web '{.status.readyReplicas}' 2
	generate job create job hello --image=busybox -- echo hi
	assert_eq "echo hi Never" "$(field job hello '{.spec.template.spec.containers[0].command[*]} {.spec.template.spec.restartPolicy}')" "job"
	wait_for 30 "the job to complete" field_is job hello '{.status.succeeded}' 1
	generate cronjob create cronjob tick --image=busybox --schedule='*/5 * * * *' -- echo tick
	assert_eq "*/5 * * * * OnFailure" "$(field cronjob tick '{.spec.schedule} {.spec.jobTemplate.spec.template.spec.restartPolicy}')" "cronjob"
	generate job-from-cronjob create job tick-now --from=cronjob/tick
	assert_eq "tick" "$(field job tick-now '{.metadata.ownerReferences[0].name}')" "job from cronjob owner"
	kubectl expose deployment web --port=80 --target-port=8080 --name=web-svc >/dev/null
	assert_eq "80 8080 web" "$(field service web-svc '{.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app}')" "expose"
	generate service-clusterip create service clusterip svc1 --tcp=80:8080
	generate service-nodeport create service nodeport svc2 --tcp=81:8081 --node-port=30081
	assert_eq "NodePort 30081" "$(field service svc2 '{.spec.type} {.spec.ports[0].nodePort}')" "nodeport service"
	generate service-loadbalancer create service loadbalancer svc3 --tcp=82:8082
	generate service-externalname create service externalname svc4 --external-name=example.com
	assert_eq "ExternalName example.com" "$(field service svc4 '{.spec.type} {.spec.externalName}')" "externalname service"
	generate pdb create poddisruptionbudget pdb1 --selector=app=web --min-available=1
	generate pdb-percent create poddisruptionbudget pdb2 --selector=app=web --max-unavailable=50%
	assert_eq "1 50%" "$(field pdb pdb1 '{.spec.minAvailable}') $(field pdb pdb2 '{.spec.maxUnavailable}')" "pdbs"
	generate ingress create ingress ing1 --class=nginx --rule='foo.com/bar*=svc1:80,tls=cert' --annotation=a=b
	assert_eq "nginx foo.com /bar Prefix svc1 80 cert" "$(field ingress ing1 '{.spec.ingressClassName} {.spec.rules[0].host} {.spec.rules[0].http.paths[0].path} {.spec.rules[0].http.paths[0].pathType} {.spec.rules[0].http.paths[0].backend.service.name} {.spec.rules[0].http.paths[0].backend.service.port.number} {.spec.tls[0].secretName}')" "ingress"
	kubectl get deployment,job,cronjob,service,pdb,ingress | grep -c -E '/(web|hello|tick|tick-now|web-svc|svc[1-4]|pdb[12]|ing1) ' |
		grep -qx 12 || fail "kubectl get does not list all twelve: $(kubectl get deployment,job,cronjob,service,pdb,ingress)"
}

test_rbac_and_scheduling_generators() {
	generate role create role reader --verb=get,list --resource=pods,deployments.apps --resource-name=a
	assert_eq "get list|pods|apps|a" "$(field role reader '{.rules[0].verbs[*]}|{.rules[0].resources[0]}|{.rules[1].apiGroups[0]}|{.rules[1].resourceNames[0]}')" "role"
	generate rolebinding create rolebinding rb --role=reader --user=bob --serviceaccount=default:sa1 --group=devs
	assert_eq "Role reader User bob Group devs ServiceAccount sa1 default" "$(field rolebinding rb '{.roleRef.kind} {.roleRef.name} {.subjects[0].kind} {.subjects[0].name} {.subjects[1].kind} {.subjects[1].name} {.subjects[2].kind} {.subjects[2].name} {.subjects[2].namespace}')" "rolebinding"
	generate clusterrole create clusterrole logs --verb=get --non-resource-url='/logs/*'
	assert_eq "/logs/*" "$(kubectl get clusterrole logs -o jsonpath='{.rules[0].nonResourceURLs[0]}')" "clusterrole"
	generate clusterrole-aggregated create clusterrole agg --aggregation-rule=team=a
	assert_eq a "$(kubectl get clusterrole agg -o jsonpath='{.aggregationRule.clusterRoleSelectors[0].matchLabels.team}')" "aggregation rule"
	generate clusterrolebinding create clusterrolebinding crb --clusterrole=logs --user=bob
	assert_eq "logs bob" "$(kubectl get clusterrolebinding crb -o jsonpath='{.roleRef.name} {.subjects[0].name}')" "clusterrolebinding"
	generate priorityclass create priorityclass high --value=1000 --description=important --preemption-policy=Never
	assert_eq "1000 important Never" "$(kubectl get priorityclass high -o jsonpath='{.value} {.description} {.preemptionPolicy}')" "priorityclass"
	kubectl get role,rolebinding,clusterrole,clusterrolebinding,priorityclass | grep -c -E '/(reader|rb|logs|agg|crb|high) ' |
		grep -qx 6 || fail "kubectl get does not list all six"
}

# A protobuf body with a field the tables do not know: 415 naming the kind and the field, and no
# object (a ConfigMap "pb" with an unknown field 99 next to its metadata).
test_unknown_protobuf_field_is_refused() {
	local body out
	body="$SIM_DIR/body.pb"
	printf 'k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x09\x0a\x04\x0a\x02pb\x98\x06\x01' >"$body"
	out=$(sim_curl -sS -w ' %{http_code}' -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
		--data-binary @"$body" "$SIM_URL/api/v1/namespaces/default/configmaps")
	[[ "$out" == *' 415' ]] || fail "not a 415: $out"
	[[ "$out" == *'field 99 of io.k8s.api.core.v1.ConfigMap'*'v1 ConfigMap'* ]] || fail "message: $out"
	! kubectl get configmap pb 2>/dev/null || fail "the refused body created an object"
	# the same body without the unknown field creates it
	printf 'k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x06\x0a\x04\x0a\x02pb' >"$body"
	sim_curl -sS --fail-with-body -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
		--data-binary @"$body" "$SIM_URL/api/v1/namespaces/default/configmaps" >/dev/null
	kubectl get configmap pb >/dev/null
}

e2e_main
