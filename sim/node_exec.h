/*
 * node_exec: what a node's container runtime does for `kubectl exec`: run a command inside a
 * running container, in its namespaces (mount, UTS, and user when it has one), its working
 * directory and its environment, with pipes or a pseudo-terminal for its standard streams.
 * volshift-sim's containers are bubblewrap sandboxes (node.c); the command joins the sandbox of
 * the container's own process. The streaming protocol is http_exec.c's.
 */
#ifndef VS_SIM_NODE_EXEC_H
#define VS_SIM_NODE_EXEC_H

#include "api.h"

#include <sys/types.h>

/* A command started in a container. Every fd is -1 when not in use. */
typedef struct sim_exec_proc {
	pid_t pid;
	int in_fd;  /* its stdin (with a TTY, a second fd of the terminal's master) */
	int out_fd; /* its stdout (with a TTY, stdout and stderr both) */
	int err_fd; /* its stderr, without a TTY */
	bool tty;
} sim_exec_proc;

typedef struct sim_exec_opts {
	bool stdin, stdout, stderr, tty;
} sim_exec_opts;

/* The PID of the container's process that a running container status names ("sim://PID", the
 * bubblewrap process), or 0 when the status is not of a running container. */
long sim_exec_status_pid(const json_t *container_status);

/*
 * The process to exec in for container (NULL or "": the pod's only container) of pod (borrowed):
 * the container's own process, inside its sandbox, into *pid. Errors: 400 BadRequest when the pod
 * has finished, is not scheduled, has no such container or the container is not running, worded as
 * kube-apiserver and the kubelet word them.
 */
int sim_exec_target(const json_t *pod, const char *container, long *pid, vs_error *err);
/*
 * Start argv (NULL-terminated; argv[0] looked up in the container's PATH) in the container of
 * process pid (sim_exec_target) as opts says, into *out. Errors (nothing started): 500
 * InternalError "error executing command in container: ..." when the command cannot be executed
 * ("executable file not found in $PATH") or the container is gone.
 */
int sim_exec_start(long pid, char *const argv[], const sim_exec_opts *opts, sim_exec_proc *out, vs_error *err);
/* Resize the terminal of p (no-op without a TTY). */
void sim_exec_resize(const sim_exec_proc *p, unsigned width, unsigned height);
/* Whether p has exited since the last call (then p->pid is 0 and *code its exit code, 128 + signal
 * when a signal ended it); false while it runs and after it was reported. */
bool sim_exec_exited(sim_exec_proc *p, int *code);
/* Send sig to p's process group (while it runs). */
void sim_exec_signal(const sim_exec_proc *p, int sig);
/* Kill p (SIGKILL to its process group), reap it and close its fds. */
void sim_exec_kill(sim_exec_proc *p);
/* Close *fd unless it is -1, and set it to -1. */
void sim_exec_close_fd(int *fd);

#endif
