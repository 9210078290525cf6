#!/usr/bin/env bash
# End-to-end: volshift installed as pvmigrate and run exactly as kURL's scripts run pvmigrate
# (kURL's addons/rook, addons/longhorn and addons/openebs: a validation run with
# --preflight-validation-only, then the migration, with --skip-free-space-check and
# --skip-preflight-validation once validated, --set-defaults for the default class, and the
# longhorn script's quoted "$flag" words, which are empty when a flag is not wanted), from Rook-
# and Longhorn-like classes to an OpenEBS Local PV class as kURL writes it (its BasePath in the
# annotation cas.openebs.io/config), served by volshift-sim's local provisioner.
. "$(dirname "$0")/migrate_lib.sh"

KURL_UTIL_IMAGE=replicated/kurl-util:v2023.05.11-0

# pvmigrate ARGS...: the pvmigrate command as kURL's $BIN_PVMIGRATE runs it (no terminal); its
# output in $SIM_DIR/pvmigrate.out, its exit status in RC.
pvmigrate() {
	RC=0
	"$SIM_DIR/pvmigrate" "$@" </dev/null >"$SIM_DIR/pvmigrate.out" 2>&1 || RC=$?
}

expect() {
	[ "$RC" = "$1" ] || fail "$2: exit status $RC, expected $1:
$(cat "$SIM_DIR/pvmigrate.out")"
}

says() {
	grep -Eq -- "$1" "$SIM_DIR/pvmigrate.out" || fail "${2:-no line matching '$1'}:
$(cat "$SIM_DIR/pvmigrate.out")"
}

# kurl_classes SOURCE...: each SOURCE a class served by volshift-sim's shared provisioner (the
# first one the default, as kURL's Rook or Longhorn class is), and openebs, kURL's OpenEBS Local
# PV class, whose volumes are directories under its BasePath on each node.
kurl_classes() {
	local first=true c
	kubectl annotate sc local storageclass.kubernetes.io/is-default-class- >/dev/null
	for c in "$@"; do
		kubectl apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $c
  annotations: {storageclass.kubernetes.io/is-default-class: "$first"}
provisioner: volshift-sim/shared
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
		first=false
	done
	kubectl apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: openebs
  annotations:
    openebs.io/cas-type: local
    cas.openebs.io/config: |
      - name: StorageType
        value: "hostpath"
      - name: BasePath
        value: "$SIM_DIR/volumes"
provisioner: volshift-sim/local
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
YAML
	ln -s "$BIN/volshift" "$SIM_DIR/pvmigrate"
}

# kurl_app NAME CLASS: a Deployment with a claim of CLASS full of files, ready; prints the tree sum.
kurl_app() {
	app "$1" "$2" >/dev/null
	ready deployment "$1"
	fill_tree "$(claim_dir "$1")"
	tree_sum "$(claim_dir "$1")"
}

# moved NAME SUM: claim NAME is on class openebs with the same data, and its Deployment is back.
moved() {
	assert_eq openebs "$(jp pvc "$1" '{.spec.storageClassName}')" "class of claim $1"
	ready deployment "$1"
	[ "$2" = "$(tree_sum "$(claim_dir "$1")")" ] || fail "data of $1 differs after the migration"
}

default_class() {
	kubectl get sc -o json | jq -r '[.items[] | select(.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true") | .metadata.name] | join(",")'
}

# addons/rook: the validation run, then (validated) the migration without the checks, the default
# class last with --set-defaults.
test_kurl_rook_to_openebs() {
	local web db
	kurl_classes rook-ceph-block rook-cephfs
	web=$(kurl_app web rook-ceph-block)
	db=$(kurl_app db rook-cephfs)
	snapshot before
	pvmigrate --source-sc rook-ceph-block --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" --preflight-validation-only
	expect 0 "the validation run"
	says "checking free space: $SIM_DIR/volumes \(the BasePath of its annotation cas.openebs.io/config \(OpenEBS Local PV\) of class openebs\) on node" \
		"the validation did not measure the free space in OpenEBS's BasePath"
	says 'free space on node-[0-9] in .*: ok$'
	says 'access modes ReadWriteOnce: ok'
	says 'Preflight validation passed; nothing was changed'
	unchanged before "the validation run"
	pvmigrate --source-sc rook-cephfs --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" --skip-free-space-check --skip-preflight-validation
	expect 0 "the migration of rook-cephfs"
	says 'free-space check skipped \(--skip-free-space-check\)'
	! grep -q 'probing access modes' "$SIM_DIR/pvmigrate.out" || fail "probed despite --skip-preflight-validation"
	moved db "$db"
	pvmigrate --source-sc rook-ceph-block --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" --skip-free-space-check --skip-preflight-validation --set-defaults
	expect 0 "the migration of rook-ceph-block, the default class"
	moved web "$web"
	assert_eq openebs "$(default_class)" "the default class"
	no_leftovers
}

# addons/longhorn: '"$skipFreeSpaceCheckFlag" "$skipPreflightValidationFlag" "$setDefaultsFlag"',
# each an empty word when unset: validated and not the default, then not validated and the default.
test_kurl_longhorn_quoted_flags() {
	local data logs
	kurl_classes longhorn longhorn-logs
	data=$(kurl_app data longhorn-logs)
	logs=$(kurl_app logs longhorn)
	pvmigrate --source-sc longhorn-logs --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" "--skip-free-space-check" "--skip-preflight-validation" ""
	expect 0 "the validated run with an empty word for --set-defaults"
	moved data "$data"
	assert_eq longhorn "$(default_class)" "the default class after the first run"
	pvmigrate --source-sc longhorn --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" "" "" "--set-defaults"
	expect 0 "the run without validation, with empty words before --set-defaults"
	says 'free space on node-[0-9] in .*: ok$' "the free space was not checked"
	says 'access modes ReadWriteOnce: ok' "the access modes were not probed"
	moved logs "$logs"
	assert_eq openebs "$(default_class)" "the default class (--set-defaults after the empty words)"
	no_leftovers
}

# A claim larger than the free space under OpenEBS's BasePath: kURL's validation run fails, and
# so does its migration without --skip-free-space-check; nothing is changed.
test_kurl_refuses_what_cannot_fit() {
	kurl_classes rook-ceph-block
	claim huge rook-ceph-block default 100Ti >/dev/null
	wait_for 60 "claim huge bound" field_is pvc huge '{.status.phase}' Bound
	snapshot before
	pvmigrate --source-sc rook-ceph-block --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE" --preflight-validation-only
	expect 1 "the validation run"
	says 'free space on node-[0-9] in .*: not enough$'
	says '^ +default +huge +its copy may be made on any node, as may those of default/huge \(100Ti\): 100\.0 TiB in all'
	pvmigrate --source-sc rook-ceph-block --dest-sc openebs --rsync-image "$KURL_UTIL_IMAGE"
	expect 1 "the migration"
	says 'Cannot migrate \(1 problem; nothing was changed\)'
	unchanged before "the refused runs"
	assert_eq rook-ceph-block "$(jp pvc huge '{.spec.storageClassName}')" "class of claim huge"
	no_leftovers
}

# pvmigrate --version prints its build lines and exits 0, before looking for a cluster.
test_kurl_version() {
	ln -s "$BIN/volshift" "$SIM_DIR/pvmigrate"
	local flag
	for flag in --version -version --version=true; do
		KUBECONFIG=/nonexistent pvmigrate "$flag"
		expect 0 "pvmigrate $flag"
		assert_eq "Running pvmigrate build:" "$(sed -n 1p "$SIM_DIR/pvmigrate.out")" "first line of pvmigrate $flag"
		says '^version=volshift-[0-9]+\.[0-9]+\.[0-9]+$'
		says '^sha=' && says '^time='
	done
	assert_eq "volshift $("$BIN/volshift" --version | awk '{print $2}')" "$("$BIN/volshift" migrate --version)" \
		"volshift migrate --version"
}

e2e_main
