#!/usr/bin/env bash
# End-to-end: volshift-sim as a secured cluster (HTTPS, client certificates, tokens, RBAC, service
# accounts in pods), and volshift's client on each way of authenticating that it supports.
source "$(dirname "$0")/lib.sh"

# make KIND NS NAME: an empty Namespace, ServiceAccount or ConfigMap (kubectl create KIND sends
# protobuf, which volshift-sim does not decode).
make() {
	jq -n --arg k "$1" --arg ns "$2" --arg n "$3" '{apiVersion: "v1", kind: $k, metadata: {name: $n}} |
		if $k == "Namespace" then . else .metadata.namespace = $ns end' | kubectl apply -f - >/dev/null
}

# bind_sa KIND NAME NS CLUSTERROLE SA_NS SA: a RoleBinding in NS (or a ClusterRoleBinding, NS "")
# of CLUSTERROLE to ServiceAccount SA_NS/SA.
bind_sa() {
	jq -n --arg k "$1" --arg n "$2" --arg ns "$3" --arg r "$4" --arg sns "$5" --arg sa "$6" \
		'{apiVersion: "rbac.authorization.k8s.io/v1", kind: $k, metadata: {name: $n},
		  roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: $r},
		  subjects: [{kind: "ServiceAccount", name: $sa, namespace: $sns}]} |
		if $ns == "" then . else .metadata.namespace = $ns end' | kubectl apply -f - >/dev/null
}

# b64url: base64url without padding of stdin (RFC 7515).
b64url() {
	openssl base64 -A | tr '+/' '-_' | tr -d '='
}

# api_as TOKEN METHOD PATH [JSON]: one request with a bearer token ("" for none), the sim's CA
# trusted; prints the HTTP status and leaves the reply in $SIM_DIR/reply.
api_as() {
	local auth=() data=()
	[ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
	[ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data-binary "$4")
	curl -sS --cacert "$SIM_DIR/pki/ca.crt" "${auth[@]}" -X "$2" "${data[@]}" -o "$SIM_DIR/reply" -w '%{http_code}' \
		"$SIM_URL$3"
}

# token_for NS SA [SECONDS]: a token of ServiceAccount NS/SA from the TokenRequest API (as admin).
token_for() {
	sim_curl -sS --fail-with-body -H 'Content-Type: application/json' \
		--data-binary "{\"spec\": {\"expirationSeconds\": ${3:-3600}}}" \
		"$SIM_URL/api/v1/namespaces/$1/serviceaccounts/$2/token" | jq -r .status.token
}

# sa_kubeconfig FILE TOKEN: a kubeconfig for the sim that authenticates with TOKEN only.
sa_kubeconfig() {
	kubectl config view --raw --minify -o json |
		jq --arg t "$2" '.users[0].user = {token: $t}' >"$1"
}

# forge_token NS SA UID EXP: a service-account token signed with the sim's own key (DATA_DIR/pki/sa.key),
# expiring at EXP (epoch seconds): what TokenRequest would have issued at another time.
forge_token() {
	local now h p s
	now=$(date +%s)
	h=$(printf '{"alg":"RS256","kid":"forged"}' | b64url)
	p=$(jq -cn --arg ns "$1" --arg sa "$2" --arg uid "$3" --argjson exp "$4" --argjson iat "$((now - 7200))" \
		'{aud: ["https://kubernetes.default.svc.cluster.local"], exp: $exp, iat: $iat, nbf: $iat,
		  iss: "https://kubernetes.default.svc.cluster.local", sub: "system:serviceaccount:\($ns):\($sa)",
		  "kubernetes.io": {namespace: $ns, serviceaccount: {name: $sa, uid: $uid}}}' | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$SIM_DIR/pki/sa.key" -binary | b64url)
	echo "$h.$p.$s"
}

# foreign_ca DIR: a CA of nobody's cluster in DIR (ca.crt, ca.key) and a client certificate of user
# "admin" in system:masters that it signed (admin.crt, admin.key).
foreign_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other-ca \
		-keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=admin" \
		-keyout "$1/admin.key" -out "$1/admin.csr" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >"$1/ext"
	openssl x509 -req -in "$1/admin.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial -days 1 \
		-extfile "$1/ext" -out "$1/admin.crt" 2>/dev/null
}

# HTTPS by default: the kubeconfig trusts the sim's CA and holds the admin's client certificate;
# a client that trusts another CA is refused before it sends anything, a certificate of another CA
# proves nothing (401), and the admin's own certificate is cluster-admin.
test_https_and_a_wrong_ca() {
	[[ "$SIM_URL" == https://127.0.0.1:* ]] || fail "the sim serves $SIM_URL"
	kubectl get namespaces default >/dev/null
	foreign_ca "$SIM_DIR/other"
	local out rc=0
	kubectl config view --raw --minify -o json |
		jq --arg ca "$(base64 -w0 <"$SIM_DIR/other/ca.crt")" '.clusters[0].cluster["certificate-authority-data"] = $ca' \
			>"$SIM_DIR/wrong-ca.json"
	out=$(kubectl --kubeconfig "$SIM_DIR/wrong-ca.json" get namespaces 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "kubectl trusting another CA was served"
	[[ "$out" == *"certificate signed by unknown authority"* ]] || fail "kubectl said: $out"
	rc=0
	curl -sS --cacert "$SIM_DIR/other/ca.crt" "$SIM_URL/version" >/dev/null 2>&1 || rc=$?
	assert_eq 60 "$rc" "curl's exit code with another CA (peer certificate not verified)"
	assert_eq 401 "$(curl -sS --cacert "$SIM_DIR/pki/ca.crt" --cert "$SIM_DIR/other/admin.crt" \
		--key "$SIM_DIR/other/admin.key" -o "$SIM_DIR/reply" -w '%{http_code}' "$SIM_URL/api/v1/namespaces")" \
		"a client certificate of another CA"
	assert_eq 200 "$(sim_curl -sS -o /dev/null -w '%{http_code}' "$SIM_URL/api/v1/nodes")" "the admin's certificate"
	assert_eq 200 "$(api_as "$(cat "$SIM_DIR/admin-token")" GET /api/v1/nodes)" "the static admin token"
}

# Anonymous requests: 401 with kube-apiserver's Status, except the health and version endpoints.
test_anonymous_requests() {
	local p
	assert_eq 401 "$(api_as "" GET /api/v1/namespaces/default/pods)" "anonymous list"
	assert_eq '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}' \
		"$(jq -c . "$SIM_DIR/reply")" "the 401 Status"
	assert_eq 401 "$(api_as "" GET /apis)" "anonymous discovery"
	assert_eq 401 "$(api_as "not-a-token" GET /version)" "a bad token, even where anonymous is let in"
	for p in /healthz /livez /readyz /version; do
		assert_eq 200 "$(api_as "" GET "$p")" "anonymous GET $p"
	done
}

# Service-account tokens: TokenRequest's are signed, have an audience and an expiry, and stop
# working when they expire or their ServiceAccount is deleted (even if one of the same name comes
# back).
test_service_account_tokens() {
	make Namespace "" ns
	make ServiceAccount ns sa
	local tok uid claims sig
	tok=$(token_for ns sa)
	claims=$(cut -d. -f2 <<<"$tok" | tr -- '-_' '+/' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' | base64 -d)
	assert_eq '["https://kubernetes.default.svc.cluster.local"] system:serviceaccount:ns:sa' \
		"$(jq -c .aud <<<"$claims") $(jq -r .sub <<<"$claims")" "the token's audience and subject"
	[ "$(jq '.exp - .iat' <<<"$claims")" = 3600 ] || fail "expiry: $claims"
	# a token the API server does not accept as too short-lived
	assert_eq 422 "$(api_as "$(cat "$SIM_DIR/admin-token")" POST /api/v1/namespaces/ns/serviceaccounts/sa/token \
		'{"spec": {"expirationSeconds": 60}}')" "a 60 s TokenRequest"
	[[ "$(jq -r .message "$SIM_DIR/reply")" == *"may not specify a duration less than 10 minutes"* ]] ||
		fail "the 422 said: $(jq -r .message "$SIM_DIR/reply")"
	# the sim's authorizer answers for the service account: authenticated, not authorized
	assert_eq 403 "$(api_as "$tok" GET /api/v1/namespaces/ns/pods)" "a fresh token"
	uid=$(kubectl get sa sa -n ns -o 'jsonpath={.metadata.uid}')
	assert_eq 403 "$(api_as "$(forge_token ns sa "$uid" "$(($(date +%s) + 600))")" GET /api/v1/namespaces/ns/pods)" \
		"a token signed by the sim's key, valid"
	assert_eq 401 "$(api_as "$(forge_token ns sa "$uid" "$(($(date +%s) - 1))")" GET /api/v1/namespaces/ns/pods)" \
		"an expired token"
	# another signature: one character changed in the middle (the last one may only carry padding bits)
	sig=${tok##*.}
	assert_eq 401 "$(api_as "${tok%.*}.${sig:0:20}$([ "${sig:20:1}" = A ] && echo B || echo A)${sig:21}" \
		GET /api/v1/namespaces/ns/pods)" "a token with a bad signature"
	kubectl delete serviceaccount sa -n ns >/dev/null
	assert_eq 401 "$(api_as "$tok" GET /api/v1/namespaces/ns/pods)" "the token of a deleted ServiceAccount"
	make ServiceAccount ns sa
	assert_eq 401 "$(api_as "$tok" GET /api/v1/namespaces/ns/pods)" "the token of a ServiceAccount made again"
}

# An unprivileged ServiceAccount is refused with kube-apiserver's words, for a named object, a list
# and a cluster-scoped resource; a Role bound to it opens exactly what it names.
test_unprivileged_service_account_refused() {
	make Namespace "" ns
	make ServiceAccount ns sa
	kubectl apply -n ns -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
	sa_kubeconfig "$SIM_DIR/sa.json" "$(token_for ns sa)"
	local out
	out=$(kubectl --kubeconfig "$SIM_DIR/sa.json" delete pvc data -n ns 2>&1) && fail "delete was allowed: $out"
	assert_eq 'Error from server (Forbidden): persistentvolumeclaims "data" is forbidden: User "system:serviceaccount:ns:sa" cannot delete resource "persistentvolumeclaims" in API group "" in the namespace "ns"' \
		"$out" "the refusal of a delete"
	out=$(kubectl --kubeconfig "$SIM_DIR/sa.json" get deployments -n ns 2>&1) && fail "list was allowed: $out"
	assert_eq 'Error from server (Forbidden): deployments.apps is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "deployments" in API group "apps" in the namespace "ns"' \
		"$out" "the refusal of a list"
	out=$(kubectl --kubeconfig "$SIM_DIR/sa.json" get nodes 2>&1) && fail "nodes were listed: $out"
	assert_eq 'Error from server (Forbidden): nodes is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "nodes" in API group "" at the cluster scope' \
		"$out" "the refusal at the cluster scope"
	assert_eq 403 "$(api_as "$(token_for ns sa)" DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data)" "DELETE"
	assert_eq '{"name":"data","kind":"persistentvolumeclaims"}' "$(jq -c .details "$SIM_DIR/reply")" "the 403's details"
	kubectl apply -n ns -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: claim-reader}
rules:
- {apiGroups: [""], resources: [persistentvolumeclaims], verbs: [get, list]}
- {apiGroups: [""], resources: [persistentvolumeclaims], resourceNames: [data], verbs: [delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sa-reads-claims}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: claim-reader}
subjects: [{kind: ServiceAccount, name: sa, namespace: ns}]
YAML
	assert_eq data "$(kubectl --kubeconfig "$SIM_DIR/sa.json" get pvc -n ns -o 'jsonpath={.items[*].metadata.name}')" \
		"list once a Role allows it"
	out=$(kubectl --kubeconfig "$SIM_DIR/sa.json" get pvc -n default 2>&1) && fail "a RoleBinding opened another namespace"
	kubectl --kubeconfig "$SIM_DIR/sa.json" delete pvc data -n ns --wait=false >/dev/null
}

# kubectl auth can-i and kubectl --as impersonate (Impersonate-User): the admin may, and is then
# that user for RBAC; a service account without the "impersonate" verb is refused, naming it.
test_can_i_as_another_user_agrees_with_enforcement() {
	make Namespace "" ns
	make ServiceAccount ns sa
	bind_sa RoleBinding sa-views ns view ns sa
	local as=--as=system:serviceaccount:ns:sa out
	assert_eq yes "$(kubectl auth can-i list pods -n ns "$as")" "can-i list pods in ns"
	assert_eq no "$(kubectl auth can-i delete pods -n ns "$as" 2>/dev/null)" "can-i delete pods in ns"
	assert_eq no "$(kubectl auth can-i list pods -n default "$as" 2>/dev/null)" "can-i list pods in default"
	assert_eq yes "$(kubectl auth can-i list pods -n default)" "the admin itself"
	kubectl get pods -n ns "$as" >/dev/null || fail "what can-i allows is refused"
	out=$(kubectl delete pod p -n ns "$as" 2>&1) && fail "what can-i refuses is allowed: $out"
	assert_eq 'Error from server (Forbidden): pods "p" is forbidden: User "system:serviceaccount:ns:sa" cannot delete resource "pods" in API group "" in the namespace "ns"' \
		"$out" "the refusal of what can-i refuses"
	sa_kubeconfig "$SIM_DIR/sa.json" "$(token_for ns sa)"
	out=$(kubectl --kubeconfig "$SIM_DIR/sa.json" get pods -n ns --as=jane 2>&1) && fail "impersonation allowed: $out"
	assert_eq 'Error from server (Forbidden): users "jane" is forbidden: User "system:serviceaccount:ns:sa" cannot impersonate resource "users" in API group "" at the cluster scope' \
		"$out" "the refusal of an impersonation"
}

# ssar TOKEN NS VERB RESOURCE [NAME [SUBRESOURCE [GROUP]]]: what a SelfSubjectAccessReview answers
# ("true" or "false"), asked with the token: what kubectl auth can-i asks.
ssar() {
	local body
	body=$(jq -cn --arg ns "$2" --arg v "$3" --arg r "$4" --arg n "${5:-}" --arg s "${6:-}" --arg g "${7:-}" \
		'{apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview",
		  spec: {resourceAttributes: {namespace: $ns, verb: $v, resource: $r, name: $n, subresource: $s, group: $g}}}')
	[ "$(api_as "$1" POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews "$body")" = 201 ] || return 1
	jq -r .status.allowed "$SIM_DIR/reply"
}

# SelfSubjectAccessReview agrees with what is enforced, for every kind of rule: verbs, groups,
# subresources, resourceNames, "*", nonResourceURLs, a ClusterRole bound in one namespace and the
# default roles; and a ServiceAccount is in its groups.
test_access_review_agrees_with_enforcement() {
	make Namespace "" ns
	make Namespace "" other
	make ServiceAccount ns sa
	kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scaler}
rules:
- {apiGroups: [apps], resources: [deployments/scale], verbs: [get, update, patch]}
- {apiGroups: [""], resources: [pods/log], verbs: [get]}
- {apiGroups: [""], resources: [configmaps], resourceNames: [settings], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: scaler, namespace: ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scaler}
subjects: [{kind: Group, name: "system:serviceaccounts:ns"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-reader}
rules:
- {nonResourceURLs: ["/metrics", "/debug/*"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects: [{kind: Group, name: "system:serviceaccounts"}]
YAML
	bind_sa RoleBinding viewer other view ns sa
	make ConfigMap ns settings
	make ConfigMap ns secrets-not
	local tok
	tok=$(token_for ns sa)
	# each row: the review's question, then the request it must agree with and the status it gets
	check() { # EXPECTED NS VERB RESOURCE NAME SUB GROUP -- METHOD PATH [BODY]
		local want=$1 got status
		got=$(ssar "$tok" "$2" "$3" "$4" "$5" "$6" "$7")
		shift 8
		status=$(api_as "$tok" "$@")
		assert_eq "$want" "$got" "SelfSubjectAccessReview for $*"
		if [ "$want" = true ]; then
			[ "$status" != 403 ] || fail "$*: 403 though the review allowed it: $(jq -r .message "$SIM_DIR/reply")"
		else
			assert_eq 403 "$status" "$* (the review refused it)"
		fi
	}
	check true ns get configmaps settings "" "" -- GET /api/v1/namespaces/ns/configmaps/settings
	check true ns delete configmaps settings "" "" -- DELETE /api/v1/namespaces/ns/configmaps/settings
	check false ns get configmaps secrets-not "" "" -- GET /api/v1/namespaces/ns/configmaps/secrets-not
	check false ns list configmaps "" "" "" -- GET /api/v1/namespaces/ns/configmaps
	check true ns get pods p log "" -- GET /api/v1/namespaces/ns/pods/p/log
	check false ns get pods p "" "" -- GET /api/v1/namespaces/ns/pods/p
	check true ns get deployments d scale apps -- GET /apis/apps/v1/namespaces/ns/deployments/d/scale
	check false ns get deployments d "" apps -- GET /apis/apps/v1/namespaces/ns/deployments/d
	check false default get deployments d scale apps -- GET /apis/apps/v1/namespaces/default/deployments/d/scale
	check true other list pods "" "" "" -- GET /api/v1/namespaces/other/pods
	check false other list secrets "" "" "" -- GET /api/v1/namespaces/other/secrets
	check false other create pods "" "" "" -- POST /api/v1/namespaces/other/pods '{"metadata": {"name": "p"}}'
	# nonResourceURLs: /metrics and anything under /debug/
	assert_eq 403 "$(api_as "$tok" GET /logs)" "a path no rule names"
	assert_eq 'forbidden: User "system:serviceaccount:ns:sa" cannot get path "/logs"' \
		"$(jq -r .message "$SIM_DIR/reply")" "the refusal of a path"
	[ "$(api_as "$tok" GET /metrics)" != 403 ] || fail "/metrics refused: $(cat "$SIM_DIR/reply")"
	[ "$(api_as "$tok" GET /debug/pprof)" != 403 ] || fail "/debug/pprof refused: $(cat "$SIM_DIR/reply")"
	# SelfSubjectRulesReview (kubectl auth can-i --list) lists the rules bound in a namespace
	assert_eq 201 "$(api_as "$tok" POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews \
		'{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "ns"}}')" \
		"SelfSubjectRulesReview"
	assert_eq '["deployments/scale"]' "$(jq -c '[.status.resourceRules[] | select(.apiGroups == ["apps"]) | .resources[]]' \
		"$SIM_DIR/reply")" "the rules of ns for apps"
	# the admin is in system:masters
	assert_eq true "$(ssar "$(cat "$SIM_DIR/admin-token")" kube-system delete nodes x)" "system:masters"
}

# --insecure-http: plain HTTP, and every request is system:masters as kube-apiserver's old
# insecure port.
flags_test_insecure_http() { echo --insecure-http; }
test_insecure_http() {
	[[ "$SIM_URL" == http://127.0.0.1:* ]] || fail "the sim serves $SIM_URL"
	assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$SIM_URL/api/v1/nodes")" "anonymous over HTTP"
	assert_eq "" "$(kubectl config view --raw -o 'jsonpath={.users[0].user.client-key-data}')" "the kubeconfig's key"
	make Namespace "" x
}

# Pods get their ServiceAccount's credentials where a kubelet puts them, and the kubernetes
# Service's variables: curl and volshift in the pod reach the sim with them (in-cluster config),
# as the ServiceAccount; automountServiceAccountToken: false leaves them out.
test_pod_reaches_the_api_with_its_service_account() {
	make Namespace "" ns
	make ServiceAccount ns reader
	bind_sa RoleBinding reader-view ns view ns reader
	wait_for 10 "ServiceAccount default in ns" kubectl get serviceaccount default -n ns
	kubectl apply -n ns -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: incluster}
spec:
  serviceAccountName: reader
  restartPolicy: Never
  containers:
  - name: c
    image: curl
    env: [{name: HOME, value: /nonexistent}]
    command:
    - sh
    - -c
    - |
      d=/var/run/secrets/kubernetes.io/serviceaccount
      echo "ns=\$(cat \$d/namespace)"
      curl -sS --cacert \$d/ca.crt -H "Authorization: Bearer \$(cat \$d/token)" -o /dev/null -w 'pods=%{http_code}\n' \
        https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT/api/v1/namespaces/ns/pods
      curl -sS --cacert \$d/ca.crt -H "Authorization: Bearer \$(cat \$d/token)" -o /dev/null -w 'secrets=%{http_code}\n' \
        https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT/api/v1/namespaces/ns/secrets
      out=\$($BIN/volshift status 2>&1); echo "volshift=\$? \$out"
      echo "claims=\$(cut -d. -f2 \$d/token)"
---
apiVersion: v1
kind: Pod
metadata: {name: nomount}
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1 | head -1']}
YAML
	wait_for 60 "incluster Succeeded" field_is pod incluster '{.status.phase}' Succeeded ns
	wait_for 60 "nomount Succeeded" field_is pod nomount '{.status.phase}' Succeeded ns
	local out claims
	out=$(kubectl logs incluster -n ns)
	[[ "$out" == *"ns=ns"* ]] || fail "the pod's namespace file: $out"
	[[ "$out" == *"pods=200"* ]] || fail "the pod could not list pods as reader: $out"
	[[ "$out" == *"secrets=403"* ]] || fail "view let the pod read secrets: $out"
	# volshift found the in-cluster config and was the ServiceAccount (view in ns only)
	[[ "$out" == *'volshift=1 '*'User "system:serviceaccount:ns:reader" cannot list resource'* ]] ||
		fail "volshift in the pod: $out"
	# the legacy hour asked for by the admission plugin, extended to a year as kube-apiserver does
	claims=$(sed -n 's/^claims=//p' <<<"$out" | tr -- '-_' '+/' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' |
		base64 -d)
	assert_eq "31536000 3607 incluster" \
		"$(jq -r '"\(.exp - .iat) \(.["kubernetes.io"].warnafter - .iat) \(.["kubernetes.io"].pod.name)"' <<<"$claims")" \
		"the pod's token: lifetime, warnafter, pod"
	assert_eq reader "$(jp pod incluster '{.spec.serviceAccountName}' ns)" "the pod's ServiceAccount"
	assert_eq default "$(jp pod nomount '{.spec.serviceAccountName}' ns)" "the default ServiceAccount"
	assert_eq /var/run/secrets/kubernetes.io/serviceaccount \
		"$(jp pod incluster '{.spec.containers[0].volumeMounts[0].mountPath}' ns)" "the kube-api-access mount"
	assert_eq "" "$(jp pod nomount '{.spec.volumes}' ns)" "volumes of a pod without automount"
	[[ "$(kubectl logs nomount -n ns)" == *"No such file or directory"* ]] ||
		fail "automountServiceAccountToken false: $(kubectl logs nomount -n ns)"
	[ ! -e /run/secrets/kubernetes.io ] || [ -n "$(ls -A /run/secrets/kubernetes.io 2>/dev/null)" ] ||
		fail "the mount point was made on the host"
}

# volshift_kubeconfig FILE USER_JSON [CLUSTER_JSON]: the sim's kubeconfig with that user (and more
# fields in its cluster), for volshift.
volshift_kubeconfig() {
	kubectl config view --raw --minify -o json |
		jq --argjson u "$2" --argjson c "${3:-{\}}" '.users[0].user = $u | .clusters[0].cluster += $c' >"$1"
}

# exec_plugin FILE API_VERSION MODE: an exec credential plugin that counts its runs in FILE.calls
# and answers by MODE: "token" a token of ServiceAccount ns/runner from the sim's TokenRequest API
# valid for an hour; "expired" the same, said to expire a second ago; "bogus-first" a token the
# sim refuses on its first run, then as "token"; "bogus" always a refused token; "hang" nothing
# for a minute.
exec_plugin() {
	cat >"$1" <<SH
#!/bin/sh
n=\$((\$(cat "$1.calls" 2>/dev/null || echo 0) + 1)); echo \$n >"$1.calls"
mode=$3
[ "\$mode" = hang ] && exec sleep 60
[ "\$mode" = bogus-first ] && { [ \$n = 1 ] && mode=bogus || mode=token; }
exp=\$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
[ "\$mode" = expired ] && exp=\$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)
tok=revoked
[ "\$mode" != bogus ] && tok=\$(curl -sS --fail ${SIM_CURL_AUTH[*]} -H 'Content-Type: application/json' \
	--data-binary '{"spec": {}}' $SIM_URL/api/v1/namespaces/ns/serviceaccounts/runner/token | jq -r .status.token)
printf '{"apiVersion": "%s", "kind": "ExecCredential", "status": {"token": "%s", "expirationTimestamp": "%s"}}\n' \
	"$2" "\$tok" "\$exp"
SH
	chmod +x "$1"
}

# runner_service_account: ServiceAccount ns/runner, cluster-admin.
runner_service_account() {
	make Namespace "" ns
	make ServiceAccount ns runner
	bind_sa ClusterRoleBinding runner-admin "" cluster-admin ns runner
}

# volshift_as KUBECONFIG: volshift status with that kubeconfig; its output in $SIM_DIR/vs.out.
volshift_as() {
	KUBECONFIG=$1 "$BIN/volshift" status >"$SIM_DIR/vs.out" 2>&1
}

# volshift's exec credential plugins (client.authentication.k8s.io v1 and v1beta1): a credential
# is reused until it expires and fetched again after; a 401 gets one retry with a fresh credential;
# a plugin that hangs is killed after its time limit.
test_volshift_exec_credential_plugins() {
	runner_service_account
	local v mode calls start
	for v in client.authentication.k8s.io/v1 client.authentication.k8s.io/v1beta1; do
		for mode in token expired bogus-first bogus; do
			rm -f "$SIM_DIR/plugin.calls"
			exec_plugin "$SIM_DIR/plugin" "$v" "$mode"
			volshift_kubeconfig "$SIM_DIR/exec.json" \
				"$(jq -n --arg c "$SIM_DIR/plugin" --arg v "$v" '{exec: {apiVersion: $v, command: $c, interactiveMode: "Never"}}')"
			if [ "$mode" = bogus ]; then
				volshift_as "$SIM_DIR/exec.json" && fail "$v $mode: volshift was let in: $(cat "$SIM_DIR/vs.out")"
				[[ "$(cat "$SIM_DIR/vs.out")" == *Unauthorized* ]] || fail "$v $mode: $(cat "$SIM_DIR/vs.out")"
			else
				volshift_as "$SIM_DIR/exec.json" || fail "$v $mode: $(cat "$SIM_DIR/vs.out")"
			fi
			calls=$(cat "$SIM_DIR/plugin.calls")
			case $mode in
			token) assert_eq 1 "$calls" "$v: runs of a plugin whose credential is valid" ;;
			expired) [ "$calls" -ge 3 ] || fail "$v: an expired credential was reused ($calls runs)" ;;
			bogus-first | bogus) assert_eq 2 "$calls" "$v $mode: runs (the 401 retried once)" ;;
			esac
		done
	done
	exec_plugin "$SIM_DIR/plugin" client.authentication.k8s.io/v1 hang
	volshift_kubeconfig "$SIM_DIR/exec.json" \
		"$(jq -n --arg c "$SIM_DIR/plugin" '{exec: {apiVersion: "client.authentication.k8s.io/v1", command: $c}}')"
	start=$SECONDS
	VOLSHIFT_EXEC_TIMEOUT=1s volshift_as "$SIM_DIR/exec.json" && fail "volshift went on without a credential"
	[ $((SECONDS - start)) -lt 20 ] || fail "the hanging plugin held volshift $((SECONDS - start)) s"
	[[ "$(cat "$SIM_DIR/vs.out")" == *"no credential within 1000 ms"* ]] || fail "$(cat "$SIM_DIR/vs.out")"
}

# volshift's other credentials and TLS settings: a token file (re-read when it changes), the
# client certificate of the sim's kubeconfig, and tls-server-name (verified against that name).
test_volshift_token_file_and_tls_server_name() {
	runner_service_account
	token_for ns runner >"$SIM_DIR/token"
	volshift_kubeconfig "$SIM_DIR/file.json" "$(jq -n --arg f "$SIM_DIR/token" '{tokenFile: $f}')"
	volshift_as "$SIM_DIR/file.json" || fail "tokenFile: $(cat "$SIM_DIR/vs.out")"
	echo revoked >"$SIM_DIR/token"
	volshift_as "$SIM_DIR/file.json" && fail "a bad token in the file was accepted"
	[[ "$(cat "$SIM_DIR/vs.out")" == *Unauthorized* ]] || fail "tokenFile revoked: $(cat "$SIM_DIR/vs.out")"
	volshift_as "$KUBECONFIG" || fail "client certificate: $(cat "$SIM_DIR/vs.out")"
	volshift_kubeconfig "$SIM_DIR/sni.json" "$(kubectl config view --raw --minify -o json | jq .users[0].user)" \
		'{"tls-server-name": "kubernetes.default.svc"}'
	volshift_as "$SIM_DIR/sni.json" || fail "tls-server-name kubernetes.default.svc: $(cat "$SIM_DIR/vs.out")"
	volshift_kubeconfig "$SIM_DIR/sni.json" "$(kubectl config view --raw --minify -o json | jq .users[0].user)" \
		'{"tls-server-name": "not-the-apiserver.example"}'
	volshift_as "$SIM_DIR/sni.json" && fail "a server name the certificate does not carry was accepted"
	grep -qiE 'certificate|SSL' "$SIM_DIR/vs.out" || fail "tls-server-name wrong: $(cat "$SIM_DIR/vs.out")"
}

# A projected volume of every source the kubelet fills: a token for another audience, a ConfigMap's
# key, a Secret's key and the pod's own fields, in one directory.
test_projected_volume() {
	make Namespace "" ns
	make ServiceAccount ns sa
	kubectl apply -n ns -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: projected, labels: {app: demo}}
spec:
  serviceAccountName: sa
  restartPolicy: Never
  volumes:
  - name: all
    projected:
      sources:
      - serviceAccountToken: {audience: vault, expirationSeconds: 600, path: vault-token}
      - configMap: {name: settings, items: [{key: mode, path: conf/mode}]}
      - secret: {name: creds}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: all, mountPath: /etc/all}]
    command: [sh, -c, 'cd /etc/all && for f in conf/mode password name; do echo "$f=$(cat $f)"; done; ls; cut -d. -f2 vault-token']
YAML
	wait_for 60 "projected Succeeded" field_is pod projected '{.status.phase}' Succeeded ns
	local out claims
	out=$(kubectl logs projected -n ns)
	[[ "$out" == *"conf/mode=fast"*"password=hunter2"*"name=projected"* ]] || fail "the projected files: $out"
	[[ "$out" != *other* ]] || fail "a key the items leave out was written: $out"
	claims=$(tail -n1 <<<"$out" | tr -- '-_' '+/' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' | base64 -d)
	assert_eq '["vault"] projected' "$(jq -c .aud <<<"$claims") $(jq -r '.["kubernetes.io"].pod.name' <<<"$claims")" \
		"the token's audience and the pod it is bound to"
	# a token for another audience does not open the API
	assert_eq 401 "$(api_as "$(sim_curl -sS -H 'Content-Type: application/json' \
		--data-binary '{"spec": {"audiences": ["vault"]}}' \
		"$SIM_URL/api/v1/namespaces/ns/serviceaccounts/sa/token" | jq -r .status.token)" GET /version)" \
		"a token for the audience vault"
}

e2e_main
