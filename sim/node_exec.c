/*
 * node_exec: a command run inside a running container, as a container runtime runs `kubectl exec`
 * (see node_exec.h). The container's own process (the child of the bubblewrap process its status
 * names) gives the namespaces to join, the working directory and the environment. The command is
 * forked here, joins them with setns, and is looked up in the container's PATH; a failed execve
 * comes back through a close-on-exec pipe, so that "executable file not found" is an error of the
 * exec call, as from a runtime, and not an exit code.
 */
#include "node_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* A container's environment is at most this big (Linux's limit on argv + envp is similar). */
#define ENV_MAX	     (2u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child needs, all prepared before fork (the child of a threaded process may only make
 * async-signal-safe calls). */
struct launch {
	char *env_text;	  /* /proc/PID/environ */
	char **envp;	  /* into env_text, NULL-terminated */
	const char *path; /* PATH of envp */
	char cwd[4096];	  /* the container process's working directory */
	int ns_fd[3];	  /* user (or -1), mnt, uts namespaces to join */
	int child_fd[3];  /* the child's stdin, stdout, stderr (or -1: /dev/null) */
	int tty_fd;	  /* the terminal's slave, or -1 */
	int report_fd;	  /* write end of the exec-failure pipe */
};

long sim_exec_status_pid(const json_t *cs)
{
	const char *id = vs_json_str(cs, "containerID");
	char *end;
	long pid = 0;

	if (!id || !vs_str_has_prefix(id, "sim://") || !vs_json_path(cs, "state.running"))
		return 0;
	pid = strtol(id + strlen("sim://"), &end, 10);
	return *end || pid <= 1 ? 0 : pid;
}

/* ---- which process ---------------------------------------------------------------------------- */

/* The names of the pod's containers, "a b c" (caller frees). */
static char *container_names(const json_t *pod)
{
	json_t *c;
	size_t i;
	char *names = vs_xstrdup("");

	json_array_foreach (vs_json_path(pod, "spec.containers"), i, c) {
		char *more = vs_xasprintf("%s%s%s", names, i ? " " : "", vs_json_str_or(c, "name", ""));
		free(names);
		names = more;
	}
	return names;
}

int sim_exec_target(const json_t *pod, const char *container, long *pid, vs_error *err)
{
	const char *name = vs_json_str_or(pod, "metadata.name", ""), *phase = vs_json_str_or(pod, "status.phase", "");
	const json_t *ctrs = vs_json_path(pod, "spec.containers"), *c, *cs;
	size_t i;
	int rc;

	if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
		return vs_error_set_api(err, 400, "BadRequest",
					"cannot exec into a container in a completed pod; current phase is %s", phase);
	if (!*vs_json_str_or(pod, "spec.nodeName", ""))
		return vs_error_set_api(err, 400, "BadRequest", "pod %s does not have a host assigned", name);
	if (!container || !*container) {
		if (json_array_size(ctrs) != 1) {
			char *names = container_names(pod);
			rc = vs_error_set_api(err, 400, "BadRequest",
					      "a container name must be specified for pod %s, choose one of: [%s]",
					      name, names);
			free(names);
			return rc;
		}
		container = vs_json_str_or(json_array_get(ctrs, 0), "name", "");
	}
	for (i = 0; (c = json_array_get(ctrs, i)); i++)
		if (strcmp(vs_json_str_or(c, "name", ""), container) == 0)
			break;
	if (!c)
		return vs_error_set_api(err, 400, "BadRequest", "container %s is not valid for pod %s", container,
					name);
	*pid = 0;
	json_array_foreach (vs_json_path(pod, "status.containerStatuses"), i, cs) {
		if (strcmp(vs_json_str_or(cs, "name", ""), container) == 0)
			*pid = sim_exec_status_pid(cs);
	}
	if (*pid > 0)
		*pid = vs_process_first_child(*pid);
	if (*pid <= 0)
		return vs_error_set_api(err, 400, "BadRequest", "container not found (\"%s\")", container);
	return 0;
}

/* ---- preparing --------------------------------------------------------------------------------- */

/* The environment of process pid, with TERM for a terminal when it has none. */
static int read_env(long pid, bool tty, struct launch *l, vs_error *err)
{
	char path[64];
	size_t len, n = 0, cap = 16;
	int rc;

	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	if ((rc = vs_file_read(path, ENV_MAX, &l->env_text, &len, err)) != 0)
		return vs_error_set_api(err, 500, "InternalError",
					"Internal error occurred: error executing command in container: the "
					"container's process is gone: %s",
					err->message);
	l->envp = vs_xcalloc(cap, sizeof(char *));
	l->path = DEFAULT_PATH;
	for (char *p = l->env_text; p < l->env_text + len; p += strlen(p) + 1) {
		if (n + 3 > cap)
			l->envp = vs_xrealloc(l->envp, (cap *= 2) * sizeof(char *));
		if (vs_str_has_prefix(p, "PATH="))
			l->path = p + strlen("PATH=");
		if (vs_str_has_prefix(p, "TERM="))
			tty = false;
		l->envp[n++] = p;
	}
	if (tty)
		l->envp[n++] = "TERM=xterm";
	l->envp[n] = NULL;
	return 0;
}

/* Open the namespaces of pid to join: its user namespace only when it is not ours. */
static int open_namespaces(long pid, struct launch *l, vs_error *err)
{
	static const char *const names[] = { "user", "mnt", "uts" };
	struct stat ours, theirs;
	char path[64];

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/%s", pid, names[i]);
		if (i == 0 && (stat("/proc/self/ns/user", &ours) != 0 || stat(path, &theirs) != 0 ||
			       ours.st_ino == theirs.st_ino))
			continue;
		if ((l->ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return vs_error_set_api(
				err, 500, "InternalError",
				"Internal error occurred: error executing command in container: cannot open %s: %s",
				path, strerror(errno));
	}
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	ssize_t n = readlink(path, l->cwd, sizeof(l->cwd) - 1);
	l->cwd[n > 0 ? n : 0] = '\0';
	return 0;
}

/* A terminal of the container's own devpts (bubblewrap mounts one at its /dev), as a runtime
 * makes it, so that tty(1) inside finds it: its master in p, its slave in l->tty_fd. */
static int open_terminal(long pid, struct launch *l, sim_exec_proc *p, vs_error *err)
{
	char ptmx[64];
	int master;

	snprintf(ptmx, sizeof(ptmx), "/proc/%ld/root/dev/ptmx", pid);
	if ((master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 || unlockpt(master) != 0 ||
	    (l->tty_fd = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		int e = errno;
		if (master >= 0)
			close(master);
		return vs_error_set_api(
			err, 500, "InternalError",
			"Internal error occurred: error executing command in container: cannot allocate "
			"a terminal in %s: %s",
			ptmx, strerror(e));
	}
	p->out_fd = master;
	for (int i = 0; i < 3; i++)
		l->child_fd[i] = l->tty_fd;
	return 0;
}

/* The standard streams: pipes (the child's ends in l->child_fd, ours in p), or a terminal. */
static int open_streams(long pid, const sim_exec_opts *o, struct launch *l, sim_exec_proc *p, vs_error *err)
{
	int fds[2], rc;

	if (o->tty) {
		if ((rc = open_terminal(pid, l, p, err)) == 0 && o->stdin)
			p->in_fd = fcntl(p->out_fd, F_DUPFD_CLOEXEC, 0);
		return rc;
	}
	for (int i = 0; i < 3; i++) {
		int *ours = i == 0 ? &p->in_fd : i == 1 ? &p->out_fd : &p->err_fd;
		bool want = i == 0 ? o->stdin : i == 1 ? o->stdout : o->stderr;
		if (!want)
			continue;
		if (pipe2(fds, O_CLOEXEC) != 0)
			return vs_error_set_api(err, 500, "InternalError", "pipe: %s", strerror(errno));
		*ours = i == 0 ? fds[1] : fds[0];
		l->child_fd[i] = i == 0 ? fds[0] : fds[1];
	}
	return 0;
}

/* ---- the child --------------------------------------------------------------------------------- */

/* Report errno to the parent and end. Async-signal-safe. */
_Noreturn static void child_fail(int report_fd)
{
	int e = errno;
	ssize_t w = write(report_fd, &e, sizeof(e));

	(void)w;
	_exit(127);
}

/* execve argv[0] as execvp would, but with the container's PATH. Async-signal-safe. */
static void exec_in_path(char *const argv[], const struct launch *l)
{
	char buf[4096];
	int first = 0;
	size_t cmd = strlen(argv[0]);

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, l->envp);
		return;
	}
	for (const char *dir = l->path, *end; *dir; dir = *end ? end + 1 : end) {
		size_t n;
		end = strchr(dir, ':');
		if (!end)
			end = dir + strlen(dir);
		n = (size_t)(end - dir);
		if (n + cmd + 2 > sizeof(buf))
			continue;
		memcpy(buf, dir, n);
		buf[n] = '/';
		memcpy(buf + n + 1, argv[0], cmd + 1);
		execve(buf, argv, l->envp);
		if (errno != ENOENT && errno != ENOTDIR && !first)
			first = errno;
	}
	errno = first ? first : ENOENT;
}

_Noreturn static void child_main(char *const argv[], const struct launch *l)
{
	static const int ns_types[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUTS };
	sigset_t none;
	int null = open("/dev/null", O_RDWR);

	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (l->tty_fd >= 0)
		ioctl(l->tty_fd, TIOCSCTTY, 0);
	for (int i = 0; i < 3; i++)
		if (dup2(l->child_fd[i] >= 0 ? l->child_fd[i] : null, i) < 0)
			child_fail(l->report_fd);
	for (int i = 0; i < 3; i++)
		if (l->ns_fd[i] >= 0 && setns(l->ns_fd[i], ns_types[i]) != 0)
			child_fail(l->report_fd);
	if (chdir(*l->cwd ? l->cwd : "/") != 0 && chdir("/") != 0)
		child_fail(l->report_fd);
#ifdef SYS_close_range
	syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
#endif
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	exec_in_path(argv, l);
	child_fail(l->report_fd);
}

/* ---- starting ---------------------------------------------------------------------------------- */

static void launch_free(struct launch *l)
{
	for (int i = 0; i < 3; i++) {
		if (l->ns_fd[i] >= 0)
			close(l->ns_fd[i]);
		if (l->child_fd[i] >= 0 && l->child_fd[i] != l->tty_fd)
			close(l->child_fd[i]);
	}
	if (l->tty_fd >= 0)
		close(l->tty_fd);
	free(l->envp);
	free(l->env_text);
}

/* Fork the child and learn whether its execve worked. */
static int launch(char *const argv[], struct launch *l, sim_exec_proc *p, vs_error *err)
{
	int report[2], e = 0;
	ssize_t n;

	if (pipe2(report, O_CLOEXEC) != 0)
		return vs_error_set_api(err, 500, "InternalError", "pipe: %s", strerror(errno));
	l->report_fd = report[1];
	p->pid = fork();
	if (p->pid == 0)
		child_main(argv, l);
	close(report[1]);
	if (p->pid < 0) {
		close(report[0]);
		return vs_error_set_api(err, 500, "InternalError", "fork: %s", strerror(errno));
	}
	do
		n = read(report[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n <= 0)
		return 0;
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
	if (e == ENOENT)
		return vs_error_set_api(err, 500, "InternalError",
					"Internal error occurred: error executing command in container: failed to exec "
					"in container: exec: \"%s\": "
					"executable file not found in $PATH",
					argv[0]);
	return vs_error_set_api(err, 500, "InternalError",
				"Internal error occurred: error executing command in container: failed to exec in "
				"container: exec: \"%s\": %s",
				argv[0], strerror(e));
}

int sim_exec_start(long pid, char *const argv[], const sim_exec_opts *opts, sim_exec_proc *out, vs_error *err)
{
	struct launch l = { .ns_fd = { -1, -1, -1 }, .child_fd = { -1, -1, -1 }, .tty_fd = -1, .report_fd = -1 };
	int rc;

	*out = (sim_exec_proc){ .pid = 0, .in_fd = -1, .out_fd = -1, .err_fd = -1, .tty = opts->tty };
	if ((rc = read_env(pid, opts->tty, &l, err)) != 0 || (rc = open_namespaces(pid, &l, err)) != 0 ||
	    (rc = open_streams(pid, opts, &l, out, err)) != 0 || (rc = launch(argv, &l, out, err)) != 0)
		goto done;
	vs_info("exec: started %s as pid %d in the container of pid %ld", argv[0], (int)out->pid, pid);
done:
	launch_free(&l);
	if (rc != 0)
		sim_exec_kill(out);
	return rc;
}

void sim_exec_resize(const sim_exec_proc *p, unsigned width, unsigned height)
{
	struct winsize ws = { .ws_row = (unsigned short)height, .ws_col = (unsigned short)width };

	if (p->tty && p->out_fd >= 0)
		ioctl(p->out_fd, TIOCSWINSZ, &ws);
}

bool sim_exec_exited(sim_exec_proc *p, int *code)
{
	int status;

	if (p->pid <= 0 || waitpid(p->pid, &status, WNOHANG) != p->pid)
		return false;
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	p->pid = 0;
	return true;
}

void sim_exec_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void sim_exec_signal(const sim_exec_proc *p, int sig)
{
	if (p->pid > 0) {
		kill(-p->pid, sig);
		kill(p->pid, sig);
	}
}

void sim_exec_kill(sim_exec_proc *p)
{
	if (p->pid > 0) {
		sim_exec_signal(p, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	sim_exec_close_fd(&p->in_fd);
	sim_exec_close_fd(&p->out_fd);
	sim_exec_close_fd(&p->err_fd);
}
