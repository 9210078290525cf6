#!/usr/bin/env bash
# End-to-end: volshift-sim's PV controller against kubectl, on the sequences KUBERNETES-NOTES
# measured on a real cluster in "Binding a recreated claim: the race". Each test gets a sim with the
# PV controller's resync period it needs (flags_TEST: --pv-resync-period), so that what binds a
# claim (an event, or only the resync) shows in whether and when it binds.
. "$(dirname "$0")/lib.sh"

claim() { # claim NAME [VOLUME [ANNOTATIONS-JSON]]: a claim of class shared, 10Mi
	local ann=${3:-}
	[ -n "$ann" ] || ann='{}'
	jq -n --arg n "$1" --arg v "${2:-}" --argjson a "$ann" '{apiVersion: "v1", kind: "PersistentVolumeClaim",
		metadata: {name: $n, annotations: $a}, spec: ({storageClassName: "shared", accessModes: ["ReadWriteOnce"],
		resources: {requests: {storage: "10Mi"}}} + (if $v == "" then {} else {volumeName: $v} end))}' |
		kubectl create -f - >/dev/null
}

# retained NAME: a claim NAME that binds, its PV set to Retain, the claim deleted; prints
# "PV OLD-UID" once the PV is Released with the claimRef of the deleted claim.
retained() {
	local pv uid
	claim "$1"
	wait_for 30 "$1 Bound" field_is pvc "$1" '{.status.phase}' Bound >&2 || return 1
	pv=$(jp pvc "$1" '{.spec.volumeName}')
	uid=$(jp pvc "$1" '{.metadata.uid}')
	kubectl patch pv "$pv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' >/dev/null
	kubectl delete pvc "$1" >/dev/null
	wait_for 30 "$pv Released" field_is pv "$pv" '{.status.phase}' Released >&2 || return 1
	echo "$pv $uid"
}

events_of() { # events_of CLAIM REASON: the messages of the claim's events with that reason
	kubectl get events -o json | jq -r --arg n "$1" --arg r "$2" \
		'.items[] | select(.involvedObject.name == $n and .reason == $r) | .message'
}

# line_of TEXT: the number of the first line of this test's sim.log that holds TEXT (or nothing)
line_of() {
	awk -v t="$1" 'index($0, t) {print NR; exit}' "$SIM_DIR/sim.log"
}

# resynced_between FROM TO: the PV controller logged a resync between those two lines of sim.log,
# or in the 100 ms before FROM: a resync during the sync that failed at FROM queues the claim again
# (a work queue takes an item added while it is processed once more after it).
resynced_between() {
	[ -n "$1" ] && [ -n "$2" ] &&
		awk -v a="$1" -v b="$2" 'function ms(t, p) { split(t, p, ":"); return (p[1] * 3600 + p[2] * 60 + p[3]) * 1000 }
			/pv: resyncing/ { last = ms($1) }
			NR == a { since = last }
			NR > a && NR < b && /pv: resyncing/ { found = 1 }
			NR == a && since != "" && ms($1) - since <= 100 { found = 1 }
			END { exit !found }' "$SIM_DIR/sim.log"
}

# old_swap PV CLAIM: pre-bind PV to {namespace, name: CLAIM} without uid and create CLAIM naming PV
# at once: one curl makes both requests on one connection, the second as soon as the first is
# answered, as a program makes them (kubectl takes ~0.1 s per command).
old_swap() {
	local ref body
	ref=$(jq -cn --arg n "$2" '[{op: "replace", path: "/spec/claimRef", value: {namespace: "default", name: $n}}]')
	body=$(jq -cn --arg n "$2" --arg v "$1" '{apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: {name: $n},
		spec: {storageClassName: "shared", volumeName: $v, accessModes: ["ReadWriteOnce"], resources: {requests: {storage: "10Mi"}}}}')
	sim_curl -sS --fail -o /dev/null -X PATCH -H 'Content-Type: application/json-patch+json' --data-binary "$ref" \
		"$SIM_URL/api/v1/persistentvolumes/$1" --next "${SIM_CURL_AUTH[@]}" -sS --fail -o /dev/null -X POST \
		-H 'Content-Type: application/json' --data-binary "$body" "$SIM_URL/api/v1/namespaces/default/persistentvolumeclaims"
}

# The old sequence, as volshift's swap made it before its rewrite. The claim worker's first write
# (the PV's claimRef) makes the volume worker write the PV's status Bound too: when the volume
# worker wins, the claim worker's status write gets 409 and it gives up; when the claim worker read
# the PV before the Available write that the pre-bind caused had reached its cache, its first write
# gets 409. Either way nothing queues the claim again but the resync (2 s here). The proof is in
# the controller's log: the claim's failed sync, then a resync, then the claim Bound.
flags_test_old_sequence_waits_for_the_resync() { echo --pv-resync-period 2s; }
test_old_sequence_waits_for_the_resync() {
	local i pv uid failed bound waited=0 fb=0
	for i in 1 2 3 4 5 6; do
		read -r pv uid <<<"$(retained "src-$i")"
		[ -n "$pv" ] || fail "no retained volume"
		old_swap "$pv" "dst-$i"
		wait_for 60 "dst-$i Bound" field_is pvc "dst-$i" '{.status.phase}' Bound
		uid=$(kubectl get pv "$pv" -o 'jsonpath={.spec.claimRef.uid}')
		[ "$uid" = "$(jp pvc "dst-$i" '{.metadata.uid}')" ] ||
			fail "dst-$i is Bound but $pv's claimRef has uid '$uid': $(kubectl get pv "$pv" -o yaml)"
		[ -z "$(events_of "dst-$i" FailedBinding)" ] || fb=$((fb + 1))
		failed=$(line_of "pv: could not sync claim default/dst-$i: ")
		bound=$(line_of "pv: claim default/dst-$i entered phase Bound")
		if [ -n "$failed" ]; then
			resynced_between "$failed" "$bound" || fail "dst-$i failed its sync and bound with no resync in between"
			waited=$((waited + 1))
		fi
	done
	echo "  $waited of 6 recreated claims lost the race and bound at a resync ($fb with FailedBinding)" >&2
	[ "$waited" -gt 0 ] || fail "no recreated claim of 6 lost the race for its volume"
}

# The same claim created a little before its PV's pre-bind (the old uid still there): FailedBinding,
# then the pre-bind makes the PV Available, which does not queue the claim: it binds at the resync.
flags_test_claim_before_the_prebind_waits_for_the_resync() { echo --pv-resync-period 2s; }
test_claim_before_the_prebind_waits_for_the_resync() {
	local pv uid available bound
	read -r pv uid <<<"$(retained src)"
	claim dst "$pv"
	wait_for 30 "FailedBinding on dst" bash -c "kubectl get events -o json | jq -e '[.items[] |
		select(.involvedObject.name == \"dst\" and .reason == \"FailedBinding\")] | length > 0' >/dev/null"
	assert_eq "volume \"$pv\" already bound to a different claim." "$(events_of dst FailedBinding)" "FailedBinding message"
	kubectl patch pv "$pv" --type=json -p '[{"op":"replace","path":"/spec/claimRef","value":{"namespace":"default","name":"dst"}}]' >/dev/null
	# from the log: under load the resync may bind it before a poll of the phase sees Available
	wait_for 30 "$pv Available" grep -q "pv: volume $pv entered phase Available" "$SIM_DIR/sim.log"
	available=$(awk -v t="pv: volume $pv entered phase Available" 'index($0, t) {n = NR} END {print n}' "$SIM_DIR/sim.log")
	wait_for 60 "dst Bound" field_is pvc dst '{.status.phase}' Bound
	bound=$(line_of "pv: claim default/dst entered phase Bound")
	resynced_between "$available" "$bound" || fail "dst bound with no resync after its volume became Available"
	assert_eq "$(jp pvc dst '{.metadata.uid}')" "$(jp pv "$pv" '{.spec.claimRef.uid}')" "claimRef uid"
}

# The recommended sequence: the claim first (the PV still names the deleted claim's uid, so no other
# claim can take it; FailedBinding), then the PV's claimRef to the new claim's uid, conditional on
# the old one, then a change to the claim once the PV is Bound. With a resync period of an hour,
# only events can bind it: without the nudge it stays Pending, with it it binds.
flags_test_new_sequence_binds_without_the_resync() { echo --pv-resync-period 1h; }
test_new_sequence_binds_without_the_resync() {
	local pv old new patch
	read -r pv old <<<"$(retained src)"
	claim dst "$pv"
	wait_for 30 "FailedBinding on dst" bash -c "[ -n \"\$(kubectl get events -o json | jq -r '.items[] |
		select(.involvedObject.name == \"dst\" and .reason == \"FailedBinding\") | .message')\" ]"
	assert_eq "volume \"$pv\" already bound to a different claim." "$(events_of dst FailedBinding)" "FailedBinding message"
	new=$(jp pvc dst '{.metadata.uid}')
	patch=$(jq -cn --arg old "$old" --arg new "$new" '[{op: "test", path: "/spec/claimRef/uid", value: $old},
		{op: "replace", path: "/spec/claimRef", value: {namespace: "default", name: "dst", uid: $new}}]')
	kubectl patch pv "$pv" --type=json -p "$patch" >/dev/null
	! kubectl patch pv "$pv" --type=json -p "$patch" >/dev/null 2>&1 || fail "the patch is not conditional on the old uid"
	wait_for 30 "$pv Bound" field_is pv "$pv" '{.status.phase}' Bound
	# syncVolume found "all is bound" and does not queue the claim: it waits for the resync (an hour)
	sleep 3
	assert_eq Pending "$(jp pvc dst '{.status.phase}')" "dst without a nudge"
	kubectl annotate pvc dst example.com/nudge=1 >/dev/null
	wait_for 30 "dst Bound after the nudge" field_is pvc dst '{.status.phase}' Bound
	assert_eq "$pv" "$(jp pvc dst '{.spec.volumeName}')" "dst's volume"
	assert_eq yes "$(jp pvc dst '{.metadata.annotations.pv\.kubernetes\.io/bind-completed}')" "bind-completed"
	assert_eq 1 "$(kubectl get pv -o name | wc -l)" "volumes (no extra one provisioned)"
}

# A claim created with bind-completed already set is taken for one that was bound before: its
# volume names another claim's uid, so it is Lost (ClaimMisbound), at once, not at a resync.
flags_test_claim_created_bind_completed_is_misbound() { echo --pv-resync-period 1h; }
test_claim_created_bind_completed_is_misbound() {
	local pv old
	read -r pv old <<<"$(retained src)"
	claim lost "$pv" '{"pv.kubernetes.io/bind-completed": "yes"}'
	wait_for 30 "lost Lost" field_is pvc lost '{.status.phase}' Lost
	assert_eq "Two claims are bound to the same volume, this one is bound incorrectly" \
		"$(events_of lost ClaimMisbound)" "ClaimMisbound event"
	assert_eq "$old" "$(jp pv "$pv" '{.spec.claimRef.uid}')" "the volume still names the deleted claim"
	assert_eq Released "$(jp pv "$pv" '{.status.phase}')" "the volume"
}

e2e_main
