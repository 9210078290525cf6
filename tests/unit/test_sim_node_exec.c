/*
 * Unit tests of volshift-sim's exec target (sim/node_exec.h): which process a `kubectl exec` runs
 * in, and the refusals worded as kube-apiserver and the kubelet word them.
 */
#include "../../sim/node_exec.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* A pod of containers a and b on node-1, a running as process pid (the "bubblewrap" process). */
static json_t *pod_of(const char *phase, long pid)
{
	char id[32];

	snprintf(id, sizeof(id), "sim://%ld", pid);
	return json_pack("{s:{s:s},s:{s:s,s:[{s:s},{s:s}]},s:{s:s,s:[{s:s,s:s,s:{s:{}}},{s:s,s:{s:{}}}]}}", "metadata",
			 "name", "web", "spec", "nodeName", "node-1", "containers", "name", "a", "name", "b", "status",
			 "phase", phase, "containerStatuses", "name", "a", "containerID", id, "state", "running",
			 "name", "b", "state", "waiting");
}

static void assert_refused(const json_t *pod, const char *container, const char *message)
{
	vs_error err = { 0 };
	long pid = -1;

	assert_int_not_equal(sim_exec_target(pod, container, &pid, &err), 0);
	assert_int_equal(err.http_status, 400);
	if (!strstr(err.message, message))
		fail_msg("\"%s\" is not in \"%s\"", message, err.message);
}

static void test_status_pid(void **state)
{
	json_t *running = json_pack("{s:s,s:{s:{}}}", "containerID", "sim://1234", "state", "running");
	json_t *exited = json_pack("{s:s,s:{s:{}}}", "containerID", "sim://1234", "state", "terminated");
	json_t *other = json_pack("{s:s,s:{s:{}}}", "containerID", "containerd://ab", "state", "running");

	(void)state;
	assert_int_equal(sim_exec_status_pid(running), 1234);
	assert_int_equal(sim_exec_status_pid(exited), 0);
	assert_int_equal(sim_exec_status_pid(other), 0);
	json_decref(running);
	json_decref(exited);
	json_decref(other);
}

static void test_refusals(void **state)
{
	json_t *pod = pod_of("Running", 999999);
	json_t *done = pod_of("Succeeded", 999999);

	(void)state;
	assert_refused(done, "a", "cannot exec into a container in a completed pod; current phase is Succeeded");
	assert_refused(pod, NULL, "a container name must be specified for pod web, choose one of: [a b]");
	assert_refused(pod, "c", "container c is not valid for pod web");
	assert_refused(pod, "b", "container not found (\"b\")");
	assert_refused(pod, "a", "container not found (\"a\")"); /* process 999999 has no child */
	json_object_del(json_object_get(pod, "spec"), "nodeName");
	assert_refused(pod, "a", "pod web does not have a host assigned");
	json_decref(pod);
	json_decref(done);
}

/* The target is the container's own process: the child of the process its status names. */
static void test_target_is_the_child(void **state)
{
	pid_t child = fork();
	json_t *pod;
	vs_error err;
	long pid = 0;

	(void)state;
	if (child == 0) {
		pause();
		_exit(0);
	}
	pod = pod_of("Running", (long)getpid());
	for (int i = 0; i < 100 && pid != child; i++) { /* the child shows in /proc at once; be patient anyway */
		assert_int_equal(sim_exec_target(pod, "a", &pid, &err), 0);
		usleep(10000);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_int_equal(pid, child);
	json_decref(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_pid),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_target_is_the_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
