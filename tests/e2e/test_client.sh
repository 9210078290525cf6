#!/usr/bin/env bash
# End-to-end: volshift's own Kubernetes client (src/kube) against volshift-sim.
. "$(dirname "$0")/lib.sh"

test_volshift_client_against_sim() {
	"$E2E_ROOT/$BUILD/tests/e2e_client"
}
e2e_main
