#!/usr/bin/env bash
# End-to-end: kubectl exec and kubectl cp against volshift-sim (WebSocket, v5.channel.k8s.io): the
# command runs inside the container (its mounts, working directory, environment, hostname), with
# stdout, stderr, stdin, its exit code, and a terminal with -t; cp is tar over exec, both ways.
. "$(dirname "$0")/lib.sh"

# A pod of two containers; only "main" mounts the emptyDir at /data (a path the host does not have).
box_pod() {
	kubectl create -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    workingDir: /data
    env: [{name: GREETING, value: hello}]
    volumeMounts: [{name: data, mountPath: /data}]
  - {name: side, image: busybox, command: [sleep, "3600"]}
  volumes: [{name: data, emptyDir: {}}]
YAML
	wait_for 30 "pod box to run" field_is pod box '{.status.containerStatuses[*].ready}' "true true"
}

test_exec_streams_environment_and_exit_codes() {
	local out err rc
	box_pod
	out=$(kubectl exec box -c main -- sh -c 'echo out; echo err >&2; pwd; echo $GREETING; hostname' 2>"$SIM_DIR/err")
	assert_eq "out /data hello box" "$(echo $out)" "stdout"
	assert_eq err "$(cat "$SIM_DIR/err")" "stderr"
	rc=0
	err=$(kubectl exec box -c main -- sh -c 'exit 3' 2>&1) || rc=$?
	assert_eq 3 "$rc" "exit code"
	[[ "$err" == *"command terminated with exit code 3"* ]] || fail "exit message: $err"
	kubectl exec box -c main -- true || fail "true failed"
	rc=0
	err=$(kubectl exec box -c main -- no-such-command 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "a missing command succeeded"
	[[ "$err" == *'exec: "no-such-command": executable file not found in $PATH'* ]] || fail "message: $err"
	err=$(kubectl exec box -c nope -- true 2>&1) && fail "exec in a missing container worked"
	[[ "$err" == *"container nope is not valid for pod box"* ]] || fail "message: $err"
}

# The command sees the container's mount namespace: what it writes under main's /data is in the
# emptyDir, not on the host, and the other container, which does not mount it, does not see it.
test_exec_runs_in_the_containers_mounts() {
	box_pod
	kubectl exec box -c main -- sh -c 'echo inside > /data/f'
	assert_eq inside "$(kubectl exec box -c main -- cat /data/f)" "the file from main"
	[ ! -e /data/f ] || fail "the file landed on the host's /data"
	! kubectl exec box -c side -- test -e /data/f 2>/dev/null || fail "the side container sees main's volume"
	find "$SIM_DIR" -path '*data*' -name f | grep -q . || fail "the file is not in the pod's emptyDir under $SIM_DIR"
}

test_exec_stdin() {
	local sum
	box_pod
	assert_eq 3 "$(printf 'a\nb\nc\n' | kubectl exec -i box -c main -- sh -c 'wc -l')" "lines read from stdin"
	head -c 5000000 /dev/urandom >"$SIM_DIR/big"
	sum=$(md5sum <"$SIM_DIR/big" | cut -d' ' -f1)
	assert_eq "$sum" "$(kubectl exec -i box -c main -- sh -c 'md5sum | cut -d" " -f1' <"$SIM_DIR/big")" "5 MB through stdin"
	# stdin closed by the client ends the command's input (the v5 CLOSE signal)
	assert_eq 0 "$(kubectl exec -i box -c main -- sh -c 'wc -c' </dev/null | tr -d ' ')" "empty stdin"
}

# -t with a terminal on kubectl's side (script(1) provides one): the command gets a terminal of its
# container, the terminal's size, TERM, and its exit code still comes back.
test_exec_tty() {
	local out rc=0
	box_pod
	out=$( (sleep 5) | script -qec "stty cols 123 rows 45; kubectl exec -it box -c main -- sh -c 'tty; stty size; echo \$TERM; exit 4'" /dev/null) || rc=$?
	out=$(tr -d '\r' <<<"$out")
	[[ "$out" == *"/dev/pts/"* ]] || fail "no terminal: $out"
	[[ "$out" == *"45 123"* ]] || fail "terminal size: $out"
	[[ "$out" == *"xterm"* ]] || fail "TERM: $out"
	assert_eq 4 "$rc" "exit code through the terminal"
	assert_eq "not a tty" "$(kubectl exec box -c main -- tty 2>/dev/null)" "without -t"
}

# kubectl going away kills the command (^sleep: the command, not kubectl's own command line).
test_exec_client_gone_kills_the_command() {
	local pid
	box_pod
	kubectl exec box -c main -- sleep 987.654 &
	pid=$!
	wait_for 10 "the command to run" pgrep -f '^sleep 98[7].654'
	sleep 1
	pgrep -f '^sleep 98[7].654' >/dev/null || fail "the command ended before kubectl did"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	wait_for 10 "the command to be killed" bash -c '! pgrep -f "^sleep 98[7].654"'
}

# A command ends with its container, killed, as a runtime's exec does.
test_exec_ends_with_its_container() {
	local pid rc=0
	box_pod
	timeout 20 kubectl exec box -c main -- sleep 987.655 2>/dev/null &
	pid=$!
	wait_for 10 "the command to run" pgrep -f '^sleep 98[7].655'
	sim_curl -sS --fail-with-body -X POST "$SIM_URL/volshift-sim/kill?namespace=default&pod=box&container=main" >/dev/null
	wait "$pid" || rc=$?
	assert_eq 137 "$rc" "kubectl's exit code"
	! pgrep -f '^sleep 98[7].655' >/dev/null || fail "the command outlived its container"
}

test_cp_both_ways() {
	box_pod
	mkdir -p "$SIM_DIR/in/sub"
	echo hello >"$SIM_DIR/in/a.txt"
	head -c 3000000 /dev/urandom >"$SIM_DIR/in/sub/big.bin"
	kubectl cp "$SIM_DIR/in" box:/data/copy -c main 2>/dev/null
	assert_eq "$(md5sum <"$SIM_DIR/in/sub/big.bin")" "$(kubectl exec box -c main -- sh -c 'md5sum < /data/copy/sub/big.bin')" "copied in"
	kubectl exec box -c main -- sh -c 'echo from-pod > /data/copy/new.txt'
	kubectl cp box:/data/copy "$SIM_DIR/out" -c main 2>/dev/null
	cmp "$SIM_DIR/in/sub/big.bin" "$SIM_DIR/out/sub/big.bin" || fail "copied out: big.bin differs"
	assert_eq hello "$(cat "$SIM_DIR/out/a.txt")" "copied out: a.txt"
	assert_eq from-pod "$(cat "$SIM_DIR/out/new.txt")" "copied out: new.txt"
}

test_exec_refusals() {
	local out
	box_pod
	out=$(sim_curl -sS -w ' %{http_code}' "$SIM_URL/api/v1/namespaces/default/pods/box/exec?command=true&container=main")
	[[ "$out" == *"Upgrade request required"*" 400" ]] || fail "plain HTTP: $out"
	kubectl run done --image=busybox --restart=Never --command -- true >/dev/null
	wait_for 30 "pod done to finish" field_is pod done '{.status.phase}' Succeeded
	out=$(kubectl exec done -- true 2>&1) && fail "exec in a finished pod worked"
	[[ "$out" == *"cannot exec into a container in a completed pod; current phase is Succeeded"* ]] || fail "message: $out"
}

e2e_main
