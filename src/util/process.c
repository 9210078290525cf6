/*
 * Process identities another process can check: whether the process that wrote an identity still
 * runs, without trusting a clock. An identity names the kernel's boot (its random boot id), the PID
 * namespace (its inode), the pid and the process's start time (in clock ticks since boot, which
 * tells a reused pid apart). Only a process of the same boot and PID namespace can look the pid up;
 * any other reader cannot tell, and says so.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROCESS_ID_MAX 96

/* The boot id and PID namespace of this process as "BOOT/PIDNS" into out, or false. */
static bool process_context(char *out, size_t n)
{
	char boot[64] = "", ns[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	ssize_t len;
	unsigned long long inode;

	if (!f)
		return false;
	if (!fgets(boot, sizeof(boot), f))
		boot[0] = '\0';
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	len = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (len <= 0 || !*boot)
		return false;
	ns[len] = '\0';
	if (sscanf(ns, "pid:[%llu]", &inode) != 1)
		return false;
	return snprintf(out, n, "%s/%llu", boot, inode) < (int)n;
}

bool vs_process_read_stat(long pid, vs_proc_stat *out)
{
	char path[64], buf[1024];
	const char *end;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	end = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	/* fields 3 (state), 4 (ppid) to 22 (starttime), proc(5) */
	return end &&
	       sscanf(end + 1, " %c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		      &out->state, &out->ppid, &out->start) == 3;
}

char *vs_process_id(long pid)
{
	char ctx[PROCESS_ID_MAX];
	vs_proc_stat st;

	if (!process_context(ctx, sizeof(ctx)) || !vs_process_read_stat(pid, &st))
		return vs_xstrdup("");
	return vs_xasprintf("%s/%ld/%llu", ctx, pid, st.start);
}

static char *process_self;
static char process_self_ctx[PROCESS_ID_MAX]; /* "BOOT/PIDNS/", or "" when unknown */
static pthread_once_t process_self_once = PTHREAD_ONCE_INIT;

static void process_self_init(void)
{
	process_self = vs_process_id((long)getpid());
	if (*process_self && process_context(process_self_ctx, sizeof(process_self_ctx) - 1))
		strcat(process_self_ctx, "/");
	else
		process_self_ctx[0] = '\0';
}

const char *vs_process_self(void)
{
	pthread_once(&process_self_once, process_self_init);
	return process_self;
}

enum vs_process_state vs_process_state(const char *id)
{
	size_t ctx_len;
	unsigned long long start = 0;
	long pid = 0;
	vs_proc_stat now;

	pthread_once(&process_self_once, process_self_init);
	ctx_len = strlen(process_self_ctx);
	if (!id || ctx_len == 0 || strncmp(id, process_self_ctx, ctx_len) != 0)
		return VS_PROCESS_UNKNOWN; /* another machine, boot or PID namespace, or no /proc here */
	if (sscanf(id + ctx_len, "%ld/%llu", &pid, &start) != 2 || pid <= 0)
		return VS_PROCESS_UNKNOWN;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return VS_PROCESS_GONE;
	if (!vs_process_read_stat(pid, &now))
		return VS_PROCESS_RUNNING; /* it exists, but /proc hides it (hidepid): assume it is the same one */
	if (now.start != start || now.state == 'Z' || now.state == 'X')
		return VS_PROCESS_GONE; /* the pid was reused, or the process ended and waits to be reaped */
	return VS_PROCESS_RUNNING;
}

long vs_process_first_child(long pid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}
