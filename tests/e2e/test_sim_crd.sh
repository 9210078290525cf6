#!/usr/bin/env bash
# End-to-end: CustomResourceDefinitions on volshift-sim through unmodified kubectl: once a CRD is
# Established its kind is served like a built-in one (discovery, CRUD, watch, label selectors, the
# status and scale subresources, printer columns), and deleting the CRD deletes its objects.
. "$(dirname "$0")/lib.sh"

# widget_crd [SCOPE]: a CRD of widgets.example.com with both subresources and a printer column.
widget_crd() {
	cat <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: ${1:-Namespaced}
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [gear]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
YAML
}

widget() { # widget NAME SIZE [LABEL]
	printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: %s, labels: {tier: %s}}\nspec: {size: %s, replicas: 1}\n' \
		"$1" "${3:-front}" "$2"
}

crd_ready() { # crd_ready: the widget CRD applied and Established
	widget_crd "$@" | kubectl apply -f -
	kubectl wait --for=condition=Established crd/widgets.example.com --timeout=30s
}

test_crd_is_established_and_discovered() {
	crd_ready
	assert_eq True "$(jp crd widgets.example.com '{.status.conditions[?(@.type=="NamesAccepted")].status}')" NamesAccepted
	assert_eq wd "$(jp crd widgets.example.com '{.status.acceptedNames.shortNames[0]}')" "accepted short name"
	assert_eq v1 "$(jp crd widgets.example.com '{.status.storedVersions[0]}')" "stored version"
	kubectl get crd | grep -c '^widgets.example.com ' >/dev/null || fail "kubectl get crd: $(kubectl get crd 2>&1)"
	assert_eq example.com/v1 "$(kubectl get --raw /apis/example.com | jq -r .preferredVersion.groupVersion)" "/apis/example.com"
	kubectl get --raw /apis | jq -e '.groups[] | select(.name == "example.com")' >/dev/null || fail "/apis lacks example.com"
	local res
	res=$(kubectl get --raw /apis/example.com/v1 | jq -c '.resources | map(.name)')
	assert_eq '["widgets","widgets/status","widgets/scale"]' "$res" "resources of example.com/v1"
	kubectl api-resources --api-group=example.com --no-headers | grep -Eq '^widgets +wd +example.com/v1 +true +Widget' ||
		fail "api-resources: $(kubectl api-resources --api-group=example.com 2>&1)"
}

# Before the CRD, and after a rejected one, the kind does not exist.
test_crd_invalid_is_rejected() {
	local out
	out=$(widget 'a' 1 | kubectl apply -f - 2>&1) && fail "a Widget was created before its CRD: $out"
	out=$(widget_crd | sed 's/name: widgets.example.com/name: gadgets.example.com/' | kubectl apply -f - 2>&1) &&
		fail "a CRD with the wrong name was accepted"
	[[ "$out" == *'must be spec.names.plural+"."+spec.group'* ]] || fail "message: $out"
	out=$(widget_crd Galactic | kubectl apply -f - 2>&1) && fail "a CRD with scope Galactic was accepted"
	[[ "$out" == *'spec.scope: Unsupported value: "Galactic"'* ]] || fail "message: $out"
	assert_eq "" "$(kubectl get crd -o name)" "CRDs after the refusals"
}

test_crd_objects_crud_labels_and_columns() {
	crd_ready
	widget small 1 front | kubectl apply -f -
	widget large 9 back | kubectl apply -f -
	assert_eq "small" "$(kubectl get widgets -l tier=front -o name | sed 's|.*/||')" "selected by tier=front"
	assert_eq "large" "$(kubectl get wd -l 'tier notin (front)' -o name | sed 's|.*/||')" "selected by tier notin (front)"
	assert_eq "large 9" "$(kubectl get widgets --no-headers | awk '$1 == "large" {print $1, $2}')" "the Size column"
	kubectl get widgets >"$SIM_DIR/widgets.txt" # not piped into head: kubectl could die of SIGPIPE
	head -1 "$SIM_DIR/widgets.txt" | grep -Eq '^NAME +SIZE +AGE' || fail "header: $(head -1 "$SIM_DIR/widgets.txt")"
	kubectl get gear -o name | grep -c '^widget.example.com/small$' >/dev/null || fail "category gear: $(kubectl get gear -o name 2>&1)"
	kubectl patch widget small --type=merge -p '{"spec":{"size":2}}'
	assert_eq 2 "$(jp widget small '{.spec.size}')" "size after the merge patch"
	assert_eq 2 "$(jp widget small '{.metadata.generation}')" "generation after a change of spec"
	kubectl patch widget small --type=json -p '[{"op":"replace","path":"/spec/size","value":3}]'
	assert_eq 3 "$(jp widget small '{.spec.size}')" "size after the JSON patch"
	widget small 5 front | kubectl apply -f -
	assert_eq 5 "$(jp widget small '{.spec.size}')" "size after apply"
	kubectl delete widget large
	assert_eq "small" "$(kubectl get widgets -o name | sed 's|.*/||')" "widgets after the delete"
	kubectl get widgets -n kube-system 2>&1 | grep -c 'No resources found' >/dev/null || fail "widgets leaked into kube-system"
}

# With the status subresource, the main resource ignores status and /status ignores the rest;
# a change of status does not bump the generation.
test_crd_status_and_scale_subresources() {
	crd_ready
	widget w 1 | kubectl apply -f -
	kubectl patch widget w --type=merge -p '{"status":{"phase":"Broken"}}'
	assert_eq "" "$(jp widget w '{.status.phase}')" "status written through the main resource"
	kubectl patch widget w --subresource=status --type=merge -p '{"status":{"phase":"Ready","replicas":1,"selector":"tier=front"},"spec":{"size":7}}'
	assert_eq Ready "$(jp widget w '{.status.phase}')" "status after patch --subresource=status"
	assert_eq 1 "$(jp widget w '{.spec.size}')" "spec written through /status"
	assert_eq 1 "$(jp widget w '{.metadata.generation}')" "generation after a change of status"
	kubectl scale widget w --replicas=4
	assert_eq 4 "$(jp widget w '{.spec.replicas}')" "spec.replicas after kubectl scale"
	local scale
	scale=$(kubectl get --raw /apis/example.com/v1/namespaces/default/widgets/w/scale)
	assert_eq "4 1 tier=front" "$(jq -r '"\(.spec.replicas) \(.status.replicas) \(.status.selector)"' <<<"$scale")" "the Scale"
}

test_crd_watch_reports_changes() {
	crd_ready
	local out=$SIM_DIR/watch.out
	kubectl get widgets --watch --output-watch-events -o json >"$out" 2>&1 &
	local watcher=$!
	sleep 1
	widget w 1 | kubectl apply -f -
	kubectl patch widget w --type=merge -p '{"spec":{"size":2}}'
	kubectl delete widget w
	wait_for 10 "the watch to see the delete" grep -q '"type":"DELETED"' "$out"
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null || true
	assert_eq "ADDED MODIFIED DELETED" "$(jq -r .type "$out" | tr "\n" " " | sed "s/ $//")" "watch events"
}

test_crd_cluster_scoped() {
	crd_ready Cluster
	widget global 3 | kubectl apply -f -
	assert_eq "" "$(kubectl get widget global -o jsonpath='{.metadata.namespace}')" "namespace of a cluster-scoped widget"
	assert_eq 3 "$(kubectl get widget global -o jsonpath='{.spec.size}')" "size"
	kubectl get --raw /apis/example.com/v1/widgets/global >/dev/null || fail "no cluster-scoped path"
	! kubectl get --raw /apis/example.com/v1/namespaces/default/widgets/global >/dev/null 2>&1 ||
		fail "a cluster-scoped widget is served under a namespace"
	kubectl delete widget global
}

# A second CRD of the group that asks for a kind already taken is not Established; as in
# calculateNamesAndConditions, the last name in conflict (its list kind) is the one reported.
test_crd_name_conflict_is_not_accepted() {
	crd_ready
	widget_crd | sed -e 's/widgets/wodgets/g' -e 's/singular: widget/singular: wodget/' -e 's/shortNames: \[wd\]/shortNames: [wo]/' |
		kubectl apply -f -
	wait_for 15 "wodgets NamesAccepted False" field_is crd wodgets.example.com \
		'{.status.conditions[?(@.type=="NamesAccepted")].reason}' ListKindConflict
	assert_eq '"WidgetList" is already in use' \
		"$(jp crd wodgets.example.com '{.status.conditions[?(@.type=="NamesAccepted")].message}')" "message"
	assert_eq False "$(jp crd wodgets.example.com '{.status.conditions[?(@.type=="Established")].status}')" "Established"
	! kubectl get --raw /apis/example.com/v1/wodgets >/dev/null 2>&1 || fail "wodgets are served"
}

# Deleting the CRD deletes its objects first, then the CRD; a new CRD of the same name starts
# empty.
test_crd_delete_removes_its_objects() {
	crd_ready
	widget a 1 | kubectl apply -f -
	printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n' | kubectl apply -f -
	widget b 2 | kubectl apply -n other -f -
	assert_eq 2 "$(kubectl get widgets -A -o name | wc -l | tr -d ' ')" "widgets before"
	kubectl delete crd widgets.example.com --timeout=60s
	! kubectl get crd widgets.example.com 2>/dev/null || fail "the CRD is still there"
	! kubectl get --raw /apis/example.com/v1/widgets >/dev/null 2>&1 || fail "widgets still served"
	crd_ready
	assert_eq 0 "$(kubectl get widgets -A -o name | wc -l | tr -d ' ')" "widgets after the CRD came back"
}

# An object that a finalizer holds keeps its CRD Terminating, and no object can be created
# meanwhile; once the finalizer goes, so do the object and the CRD.
test_crd_delete_waits_for_finalizers() {
	crd_ready
	widget held 1 | sed 's/^metadata: {/metadata: {finalizers: [example.com\/hold], /' | kubectl apply -f -
	kubectl delete crd widgets.example.com --wait=false
	wait_for 15 "held being deleted" sh -c "kubectl get widget held -o jsonpath='{.metadata.deletionTimestamp}' | grep -q ."
	assert_eq "True InstanceDeletionInProgress" \
		"$(kubectl get crd widgets.example.com -o jsonpath='{range .status.conditions[?(@.type=="Terminating")]}{.status} {.reason}{end}')" \
		"Terminating"
	local out
	out=$(widget late 1 | kubectl create -f - 2>&1) && fail "a widget was created while its CRD is terminating"
	[[ "$out" == *"create not allowed while custom resource definition is terminating"* ]] || fail "message: $out"
	kubectl patch widget held --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'
	wait_for 20 "the CRD to go" sh -c '! kubectl get crd widgets.example.com'
}

e2e_main
