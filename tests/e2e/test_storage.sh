#!/usr/bin/env bash
# End-to-end: volumes and workloads on volshift-sim, driven by kubectl as a user would.
. "$(dirname "$0")/lib.sh"

deploy_writer() { # deploy_writer NAME CLASS: a PVC and a Deployment whose process writes into it
	kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1}
spec:
  storageClassName: $2
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: app
        image: busybox
        command: [/bin/sh, -c, 'echo "written by \$HOSTNAME" > /data/hello; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: $1}}]
YAML
}

pod_of() { kubectl get pods -l "app=$1" -o 'jsonpath={.items[0].metadata.name}'; }
no_pods() { [ -z "$(kubectl get pods -l "app=$1" -o 'jsonpath={.items[*].metadata.name}')" ]; }

test_deployment_on_local_writes_into_volume() {
	deploy_writer web local
	wait_for 30 "pod of web Running" bash -c '[ "$(kubectl get pods -l app=web -o jsonpath={.items[0].status.phase})" = Running ]'
	local pod pv node dir affinity
	pod=$(pod_of web)
	pv=$(jp pvc web '{.spec.volumeName}')
	assert_eq Bound "$(jp pvc web '{.status.phase}')" "PVC phase"
	node=$(jp pod "$pod" '{.spec.nodeName}')
	dir=$(jp pv "$pv" '{.spec.local.path}')
	affinity=$(jp pv "$pv" '{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')
	assert_eq "$node" "$affinity" "PV node affinity vs the pod's node"
	assert_eq "$(jp pvc web '{.metadata.annotations.volume\.kubernetes\.io/selected-node}')" "$node" "selected-node"
	[ -d "$dir" ] || fail "PV directory $dir missing"
	wait_for 10 "file written by the pod" test -s "$dir/hello"
	assert_eq "written by $pod" "$(cat "$dir/hello")" "content written by the pod's process"
}

test_scale_to_zero_removes_pod() {
	deploy_writer app local
	wait_for 30 "pod Running" bash -c '[ "$(kubectl get pods -l app=app -o jsonpath={.items[0].status.phase})" = Running ]'
	kubectl scale deployment app --replicas=0
	wait_for 30 "pods gone" no_pods app
	assert_eq 0 "$(jp deployment app '{.spec.replicas}')" "spec.replicas"
	assert_eq Bound "$(jp pvc app '{.status.phase}')" "PVC still bound"
}

test_pvc_in_use_stays_terminating() {
	deploy_writer busy shared
	wait_for 30 "pod Running" bash -c '[ "$(kubectl get pods -l app=busy -o jsonpath={.items[0].status.phase})" = Running ]'
	kubectl delete pvc busy --wait=false
	sleep 1
	[ -n "$(jp pvc busy '{.metadata.deletionTimestamp}')" ] || fail "PVC has no deletionTimestamp"
	assert_eq Bound "$(jp pvc busy '{.status.phase}')" "terminating PVC still Bound"
	assert_eq kubernetes.io/pvc-protection "$(jp pvc busy '{.metadata.finalizers[0]}')" "finalizer"
	kubectl delete deployment busy
	wait_for 30 "PVC gone once its pod is gone" bash -c '! kubectl get pvc busy'
}

test_statefulset_three_replicas() {
	kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: busybox
        command: [/bin/sh, -c, 'echo $HOSTNAME > /var/lib/db/id; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /var/lib/db}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 5Mi}}
YAML
	wait_for 60 "3 ready replicas" field_is statefulset db '{.status.readyReplicas}' 3
	local i pv
	for i in 0 1 2; do
		assert_eq Bound "$(jp pvc data-db-$i '{.status.phase}')" "PVC data-db-$i"
		assert_eq local "$(jp pvc data-db-$i '{.spec.storageClassName}')" "default class on data-db-$i"
		assert_eq Running "$(jp pod db-$i '{.status.phase}')" "pod db-$i"
		assert_eq StatefulSet "$(jp pod db-$i '{.metadata.ownerReferences[0].kind}')" "owner of db-$i"
		pv=$(jp pvc data-db-$i '{.spec.volumeName}')
		wait_for 10 "id file of db-$i" test -s "$(jp pv "$pv" '{.spec.local.path}')/id"
		assert_eq "db-$i" "$(cat "$(jp pv "$pv" '{.spec.local.path}')/id")" "data of db-$i"
	done
	kubectl scale statefulset db --replicas=2
	wait_for 30 "db-2 removed first" bash -c '! kubectl get pod db-2'
	kubectl get pod db-0 db-1 >/dev/null
}

test_retained_pv_rebinds() {
	kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: keep}
spec:
  storageClassName: shared
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
	wait_for 20 "keep Bound" field_is pvc keep '{.status.phase}' Bound
	local pv dir
	pv=$(jp pvc keep '{.spec.volumeName}')
	dir=$(jp pv "$pv" '{.spec.hostPath.path}')
	echo precious >"$dir/file"
	kubectl patch pv "$pv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'
	kubectl delete pvc keep
	wait_for 20 "PV Released" field_is pv "$pv" '{.status.phase}' Released
	sleep 2
	assert_eq Released "$(jp pv "$pv" '{.status.phase}')" "retained PV survives its claim"
	assert_eq precious "$(cat "$dir/file")" "data of the retained PV"
	# Pre-bind as KUBERNETES-NOTES says: claimRef to the new claim, without uid, then create it.
	kubectl patch pv "$pv" --type=json -p '[{"op":"replace","path":"/spec/claimRef","value":{"namespace":"default","name":"again"}}]'
	wait_for 20 "PV Available" field_is pv "$pv" '{.status.phase}' Available
	kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: again}
spec:
  storageClassName: shared
  volumeName: $pv
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
	# As on a real cluster (KUBERNETES-NOTES, "Binding a recreated claim: the race"), the claim
	# worker and the volume worker race for the PV's status; the loser's claim binds at the PV
	# controller's resync (15 s), where the race can happen again.
	wait_for 60 "again Bound" field_is pvc again '{.status.phase}' Bound
	assert_eq "$pv" "$(jp pvc again '{.spec.volumeName}')" "rebound volume"
	assert_eq "$(jp pvc again '{.metadata.uid}')" "$(jp pv "$pv" '{.spec.claimRef.uid}')" "claimRef uid"
	assert_eq precious "$(cat "$dir/file")" "data after rebinding"
}

test_released_pv_with_old_uid_stays_pending() {
	kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: first}
spec:
  storageClassName: shared
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
	wait_for 20 "first Bound" field_is pvc first '{.status.phase}' Bound
	local pv
	pv=$(jp pvc first '{.spec.volumeName}')
	kubectl patch pv "$pv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'
	kubectl delete pvc first
	wait_for 20 "PV Released" field_is pv "$pv" '{.status.phase}' Released
	kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: second}
spec:
  storageClassName: shared
  volumeName: $pv
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
YAML
	sleep 2
	assert_eq Pending "$(jp pvc second '{.status.phase}')" "claim naming a PV bound to another claim uid"
}
e2e_main
