# Helpers for the migration tests: applications with claims, the data of a claim as a checksum
# of every file (content, type, mode, owner, times, symlink targets, hard links, sparseness, ACLs,
# extended attributes), and the whole cluster's objects for before/after comparisons.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# vs_migrate ARGS...: volshift migrate without the confirmation prompt, with $VS_MIGRATE_FLAGS
# (e.g. "--parallel 4" for a whole suite) before ARGS.
vs_migrate() {
	# shellcheck disable=SC2086 # the flags are words
	"$BIN/volshift" migrate --yes ${VS_MIGRATE_FLAGS:-} "$@"
}

# storage_class NAME PROVISIONER RECLAIM BINDING: a StorageClass served by one of volshift-sim's
# provisioners (volshift-sim/local or volshift-sim/shared).
storage_class() {
	kubectl apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $1}
provisioner: $2
reclaimPolicy: $3
volumeBindingMode: $4
YAML
}

# claim NAME CLASS [NS] [SIZE] [MODE]: a claim labelled app=NAME.
claim() {
	local name=$1 class=$2 ns=${3:-default} size=${4:-10Mi} mode=${5:-ReadWriteOnce}
	kubectl apply -n "$ns" -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $name, labels: {app: $name}}
spec:
  storageClassName: $class
  accessModes: [$mode]
  resources: {requests: {storage: $size}}
YAML
}

# app NAME CLASS [NS] [SIZE] [MODE] [NODE]: a claim and a Deployment that mounts it at /data, with a
# nodeSelector for NODE when given; its container runs $APP_SCRIPT (sh; default: write the pod's
# name to /data/id once, then sleep).
app() {
	local name=$1 ns=${3:-default} node=${6:+"nodeSelector: {kubernetes.io/hostname: $6}"}
	local script=${APP_SCRIPT:-'[ -f /data/id ] || echo "$HOSTNAME" > /data/id; exec sleep 3600'}
	claim "$@"
	kubectl apply -n "$ns" -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name}
spec:
  replicas: 1
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      $node
      containers:
      - name: app
        image: busybox
        command: [/bin/sh, -c, '$script']
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: $name}}]
YAML
}

# statefulset NAME CLASS REPLICAS: a StatefulSet whose claims data-NAME-N come from a template.
statefulset() {
	kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1}
spec:
  serviceName: $1
  replicas: $3
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: db
        image: busybox
        command: [/bin/sh, -c, '[ -f /data/id ] || echo "\$HOSTNAME" > /data/id; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {tier: db}}
    spec:
      storageClassName: $2
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Mi}}
YAML
}

# ready KIND NAME [NS] [SECONDS]: the workload has all its replicas ready.
ready() {
	local ns=${3:-default}
	wait_for "${4:-60}" "$1 $ns/$2 ready" kubectl rollout status "$1/$2" -n "$ns" --timeout=2s
}

# claim_dir NAME [NS]: the host directory of the volume bound to a claim.
claim_dir() {
	local pv
	pv=$(jp pvc "$1" '{.spec.volumeName}' "${2:-default}")
	[ -n "$pv" ] || return 1
	kubectl get pv "$pv" -o 'jsonpath={.spec.local.path}{.spec.hostPath.path}'
}

# namespaces NS...: creates the namespaces.
namespaces() {
	local ns
	for ns in "$@"; do
		printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n' "$ns"
	done | kubectl apply -f - >/dev/null
}

# pv_node PV: the node a node-local volume is on.
pv_node() {
	kubectl get pv "$1" -o json | jq -r '.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0] // ""'
}

# fill_tree DIR: files a copy must keep exactly: another owner, modes, a hard link, a symlink, a
# sparse file, an empty directory, an ACL and an extended attribute.
fill_tree() {
	local d=$1
	mkdir -p "$d/sub/deeper" "$d/empty"
	printf 'hello\n' >"$d/hello"
	head -c 300000 /dev/urandom >"$d/sub/random.bin"
	printf 'owned by someone else\n' >"$d/sub/theirs"
	chown 1234:5678 "$d/sub/theirs"
	chmod 0640 "$d/sub/theirs"
	chmod 0700 "$d/sub/deeper"
	printf 'x\n' >"$d/sub/deeper/x"
	ln "$d/hello" "$d/sub/hello-hardlink"
	ln -s ../hello "$d/sub/hello-symlink"
	truncate -s 50M "$d/sparse"
	printf 'tail' >>"$d/sparse"
	setfacl -m u:4321:r "$d/hello"
	setfattr -n user.volshift -v kept "$d/sub/random.bin"
	touch -d '2020-01-02 03:04:05' "$d/sub/theirs"
}

# tree_sum DIR: one line per fact about every entry; equal output means an exact copy.
tree_sum() {
	(
		cd "$1" || exit 1
		find . -printf '%y %p mode=%m owner=%U:%G size=%s link=%l\n' | sort
		find . -type f ! -type l -printf '%p mtime=%TY-%Tm-%Td_%TH:%TM:%.2TS\n' | sort
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum
		find . -type f -links +1 -printf '%i %p\n' | sort | awk '{g[$1]=g[$1]" "$2} END {for (k in g) print "hardlinks:" g[k]}' | sort
		find . -type f -printf '%p %b %s\n' | awk '{print "sparse " $1 " " ($2 * 512 < $3 ? "yes" : "no")}' | sort
		getfacl -R -p -s . 2>/dev/null
		getfattr -R -d -m 'user\.' . 2>/dev/null
	)
}

# cluster_state: every object a migration could touch, without fields that change by themselves.
cluster_state() {
	local kinds=pv,pvc,pods,deployments,statefulsets,replicasets,daemonsets,jobs,cronjobs,storageclasses,configmaps
	kubectl get "$kinds" -A -o json | jq -S '[.items[] | del(.metadata.managedFields)] | sort_by(.kind, .metadata.namespace, .metadata.name)'
}

# volumes_list: the volume directories the sim holds (a probe's volume must not stay behind).
volumes_list() {
	ls -1 "$SIM_DIR/volumes" 2>/dev/null | sort
}

# state_settled: cluster_state reads the same twice in a row (controllers are done with the
# objects just created).
state_settled() {
	local a b
	a=$(cluster_state) || return 1
	sleep 0.5
	b=$(cluster_state) || return 1
	[ "$a" = "$b" ]
}

# snapshot FILE: the whole cluster and the volume directories, once the controllers are done.
snapshot() {
	wait_for 90 "the cluster to settle" state_settled
	cluster_state >"$SIM_DIR/$1.json"
	volumes_list >"$SIM_DIR/$1.volumes"
}

# unchanged FILE WHAT: the cluster is exactly as snapshot FILE recorded it.
unchanged() {
	cluster_state >"$SIM_DIR/$1.after.json"
	volumes_list >"$SIM_DIR/$1.after.volumes"
	cmp -s "$SIM_DIR/$1.json" "$SIM_DIR/$1.after.json" ||
		fail "$2 changed the cluster:
$(diff "$SIM_DIR/$1.json" "$SIM_DIR/$1.after.json" | head -60)"
	cmp -s "$SIM_DIR/$1.volumes" "$SIM_DIR/$1.after.volumes" ||
		fail "$2 changed the volume directories:
$(diff "$SIM_DIR/$1.volumes" "$SIM_DIR/$1.after.volumes")"
}

# no_leftovers: no temporary claim, no copy pod and nothing of an access-mode probe remains.
no_leftovers() {
	local left
	left=$(kubectl get pvc,pods -A -o json | jq -r '.items[] | select(.metadata.labels["app.kubernetes.io/managed-by"] == "volshift") | .metadata.name')
	[ -z "$left" ] || fail "volshift left objects behind: $left"
	left=$(probe_objects)
	[ -z "$left" ] || fail "access-mode probes left behind: $left"
}

# probe_objects: every object of an access-mode probe, one "Kind NS/NAME" a line: claims, pods and
# Leases named volshift-probe-*, and volumes labelled as a probe's or bound to such a claim.
probe_objects() {
	kubectl get pvc,pods,leases -A -o json |
		jq -r '.items[] | select(.metadata.name | startswith("volshift-probe-")) | "\(.kind) \(.metadata.namespace)/\(.metadata.name)"'
	kubectl get pv -o json | jq -r '.items[] | select((.metadata.labels["volshift.io/probe"] // "") != ""
		or (.spec.claimRef.name // "" | startswith("volshift-probe-"))) | "PersistentVolume \(.metadata.name)"'
}

# filled_app NAME: a Deployment NAME on class local with a claim full of every kind of file, ready;
# prints the claim's tree sum.
filled_app() {
	app "$1" local >/dev/null
	ready deployment "$1"
	fill_tree "$(claim_dir "$1")"
	tree_sum "$(claim_dir "$1")"
}

# migrate_bg FAILPOINTS ARGS...: volshift migrate local -> shared in the background (volshift itself,
# so that signals reach it), output in $SIM_DIR/run.out; sets MIG_PID.
migrate_bg() {
	local fp=$1
	shift
	VOLSHIFT_FAILPOINTS="$fp" "$BIN/volshift" migrate --yes --source-sc local --dest-sc shared "$@" \
		>"$SIM_DIR/run.out" 2>&1 &
	MIG_PID=$!
}

# until_out PATTERN: waits until the background run's output has a line matching PATTERN.
until_out() {
	wait_for 120 "'$1' in volshift's output" grep -q -- "$1" "$SIM_DIR/run.out"
}

# crash_at POINT[@N]: volshift migrate local -> shared killed at failpoint POINT (the Nth time it is
# reached; it must be); prints the migration's id.
crash_at() {
	local rc=0 at=""
	[[ "$1" == *@* ]] && at="@${1#*@}"
	VOLSHIFT_FAILPOINTS="${1%@*}=crash$at" vs_migrate --source-sc local --dest-sc shared >"$SIM_DIR/first.out" 2>&1 || rc=$?
	assert_eq 86 "$rc" "volshift should have been killed at $1: $(tail -3 "$SIM_DIR/first.out")" || return 1
	"$BIN/volshift" status --output json | jq -r .id | head -n1
}
