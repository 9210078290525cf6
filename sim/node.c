/*
 * node: the kubelet of volshift-sim. Every node is this host, so one agent serves them all: for each
 * pod bound to a node it prepares the pod's volumes (claims' directories, emptyDir, configMap,
 * secret, hostPath), runs each container's command as a host process inside bubblewrap (its own
 * mount namespace whose root is a tmpfs with the host's top-level directories bound in and the
 * volumes mounted at their mountPaths), restarts containers by restartPolicy with back-off, reports
 * the pod's status, and on deletion stops the processes (SIGTERM, SIGKILL after the grace period)
 * before removing the pod object. Images are not pulled: the command runs from the host.
 *
 * Mount points: the sandbox's root is a tmpfs. A mountPath whose parent is missing on the host is
 * created on the tmpfs: any host directory on the way to it is not bound whole but rebuilt on the
 * tmpfs from binds of its entries, so nothing is ever created on the host.
 */
#include "cluster_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
	struct proc *next;
	char pod_uid[40];
	char *ns, *pod, *container;
	pid_t pid;          /* 0 when not running */
	int restarts;
	int64_t started;    /* epoch s of the current (or last) run */
	bool has_exit;      /* the last run ended */
	int exit_code;
	int64_t finished;
	json_t *last_term;  /* lastState.terminated of the run before, or NULL */
	int64_t restart_at; /* monotonic ms when a back-off restart is due, 0 none */
	bool done;          /* no more runs */
	char *fatal;        /* the container cannot run at all: the message */
	int64_t term_sent;  /* monotonic ms of the SIGTERM, 0 none */
	bool kill_sent;
};

struct sim_node_agent {
	struct proc *procs;
};

/* ---- process table ---------------------------------------------------------------------------- */

static struct proc *proc_find(sim_cluster *c, const char *uid, const char *container)
{
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (strcmp(p->pod_uid, uid) == 0 && (!container || strcmp(p->container, container) == 0))
			return p;
	return NULL;
}

static void proc_free(struct proc *p)
{
	free(p->ns);
	free(p->pod);
	free(p->container);
	free(p->fatal);
	json_decref(p->last_term);
	free(p);
}

static void reap(sim_cluster *c)
{
	for (struct proc *p = c->agent->procs; p; p = p->next) {
		if (p->pid <= 0)
			continue;
		int status = 0;
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == 0)
			continue;
		if (r < 0 && errno != ECHILD)
			continue;
		/* make sure nothing of the process group is left behind */
		kill(-p->pid, SIGKILL);
		p->exit_code = r < 0 ? 255 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		p->has_exit = true;
		p->finished = vs_time_now();
		vs_info("node: %s/%s container %s (pid %d) exited with %d", p->ns, p->pod, p->container, (int)p->pid,
			p->exit_code);
		p->pid = 0;
	}
}

static char *pod_dir(sim_cluster *c, const char *ns, const char *pod, const char *uid)
{
	return vs_xasprintf("%s/pods/%s_%s_%s", c->data_dir, ns, pod, uid);
}

/* ---- volumes ---------------------------------------------------------------------------------- */

struct mount {
	char *src, *dst;
	bool ro;
};

struct mounts {
	struct mount *v;
	size_t n;
};

static void mounts_free(struct mounts *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].src);
		free(m->v[i].dst);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* Write the keys of a configMap or secret into dir (items and defaultMode honoured). */
static int write_keys(const json_t *data, bool b64, const json_t *items, int mode, const char *dir, vs_error *err)
{
	int rc = vs_mkdir_p(dir, 0755, err);
	if (rc)
		return rc;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)data, key, val) {
		const char *path = key;
		if (json_array_size(items) > 0) {
			path = NULL;
			size_t i;
			json_t *it;
			json_array_foreach(items, i, it) {
				const char *k = vs_json_str(it, "key");
				if (k && strcmp(k, key) == 0)
					path = vs_json_str(it, "path");
			}
			if (!path)
				continue;
		}
		if (!json_is_string(val) || strstr(path, ".."))
			continue;
		unsigned char *bytes = NULL;
		size_t len = 0;
		if (b64) {
			rc = vs_base64_decode(json_string_value(val), &bytes, &len, err);
			if (rc)
				return rc;
		} else {
			bytes = (unsigned char *)vs_xstrdup(json_string_value(val));
			len = strlen((char *)bytes);
		}
		char *file = vs_xasprintf("%s/%s", dir, path);
		char *slash = strrchr(file, '/');
		*slash = '\0';
		rc = vs_mkdir_p(file, 0755, err);
		*slash = '/';
		if (!rc)
			rc = vs_file_write_atomic(file, bytes, len, mode, err);
		free(file);
		free(bytes);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Resolve the pod's volumes into host directories (creating emptyDir, configMap and secret
 * contents under the pod directory). Returns 0, or 1 with *why set when the pod must wait
 * (claim not bound, configMap missing), or a VS_E* code.
 */
static int resolve_volumes(sim_cluster *c, const json_t *pod, const char *dir, json_t *paths, char **why,
			   vs_error *err)
{
	const char *ns = cl_ns(pod);
	size_t i;
	json_t *v;
	json_array_foreach(vs_json_path(pod, "spec.volumes"), i, v) {
		const char *name = vs_json_str(v, "name");
		if (!name)
			continue;
		const char *claim = vs_json_str(v, "persistentVolumeClaim.claimName");
		if (claim) {
			json_t *pvc = cl_get(c, cl_res_pvc, ns, claim);
			const char *phase = vs_json_str(pvc, "status.phase");
			const char *vn = vs_json_str(pvc, "spec.volumeName");
			json_t *pv = phase && strcmp(phase, "Bound") == 0 && vn ? cl_get(c, cl_res_pv, NULL, vn) : NULL;
			const char *path = vs_json_str(pv, "spec.local.path");
			if (!path)
				path = vs_json_str(pv, "spec.hostPath.path");
			if (path)
				json_object_set_new(paths, name, json_string(path));
			else
				*why = vs_xasprintf("persistentvolumeclaim \"%s\" is not bound", claim);
			json_decref(pv);
			json_decref(pvc);
			if (!path)
				return 1;
			continue;
		}
		if (json_object_get(v, "emptyDir")) {
			char *d = vs_xasprintf("%s/volumes/emptydir/%s", dir, name);
			int rc = vs_mkdir_p(d, 0777, err);
			if (!rc)
				chmod(d, 0777);
			json_object_set_new(paths, name, json_string(d));
			free(d);
			if (rc)
				return rc;
			continue;
		}
		const json_t *cm = json_object_get(v, "configMap");
		const json_t *sec = json_object_get(v, "secret");
		if (cm || sec) {
			const char *ref = cm ? vs_json_str(cm, "name") : vs_json_str(sec, "secretName");
			const json_t *src = cm ? cm : sec;
			json_t *obj = ref ? cl_get(c, cm ? cl_res_cm : cl_res_secret, ns, ref) : NULL;
			char *d = vs_xasprintf("%s/volumes/%s/%s", dir, cm ? "configmap" : "secret", name);
			int rc = 0;
			if (!obj && !vs_json_bool(src, "optional", false)) {
				*why = vs_xasprintf("%s \"%s\" not found", cm ? "configmap" : "secret", ref ? ref : "");
				rc = 1;
			} else {
				int mode = (int)vs_json_int(src, "defaultMode", 0644);
				rc = write_keys(json_object_get(obj, "data"), sec != NULL, json_object_get(src, "items"),
						mode, d, err);
				if (!rc && cm)
					rc = write_keys(json_object_get(obj, "binaryData"), true,
							json_object_get(src, "items"), mode, d, err);
				if (!rc && !obj)
					rc = vs_mkdir_p(d, 0755, err);
			}
			if (!rc)
				json_object_set_new(paths, name, json_string(d));
			json_decref(obj);
			free(d);
			if (rc)
				return rc;
			continue;
		}
		const char *hp = vs_json_str(v, "hostPath.path");
		if (hp) {
			const char *type = vs_json_str(v, "hostPath.type");
			if (type && strcmp(type, "DirectoryOrCreate") == 0) {
				int rc = vs_mkdir_p(hp, 0755, err);
				if (rc)
					return rc;
			}
			json_object_set_new(paths, name, json_string(hp));
			continue;
		}
		/* other volume types (downwardAPI, projected, ...): an empty directory */
		char *d = vs_xasprintf("%s/volumes/other/%s", dir, name);
		int rc = vs_mkdir_p(d, 0755, err);
		json_object_set_new(paths, name, json_string(d));
		free(d);
		if (rc)
			return rc;
	}
	return 0;
}

static bool volume_read_only(const json_t *pod, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(vs_json_path(pod, "spec.volumes"), i, v) {
		const char *n = vs_json_str(v, "name");
		if (n && strcmp(n, name) == 0)
			return vs_json_bool(v, "persistentVolumeClaim.readOnly", false) || json_object_get(v, "configMap") ||
			       json_object_get(v, "secret");
	}
	return false;
}

static void container_mounts(const json_t *pod, const json_t *ctr, const json_t *paths, struct mounts *out)
{
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(ctr, "volumeMounts"), i, vm) {
		const char *name = vs_json_str(vm, "name"), *mp = vs_json_str(vm, "mountPath");
		const char *src = name ? json_string_value(json_object_get(paths, name)) : NULL;
		if (!src || !mp || mp[0] != '/')
			continue;
		const char *sub = vs_json_str(vm, "subPath");
		char *s;
		if (sub && *sub && !strstr(sub, "..")) {
			s = vs_xasprintf("%s/%s", src, sub);
			struct stat stt;
			if (stat(s, &stt) != 0)
				vs_mkdir_p(s, 0777, NULL);
		} else {
			s = vs_xstrdup(src);
		}
		out->v = vs_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
		out->v[out->n].src = s;
		out->v[out->n].dst = vs_xstrdup(mp);
		out->v[out->n].ro = vs_json_bool(vm, "readOnly", false) || volume_read_only(pod, name);
		out->n++;
	}
}

/* ---- the sandbox command line ----------------------------------------------------------------- */

struct argv {
	char **v;
	size_t n, cap;
};

static void argv_add(struct argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = vs_xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = vs_xstrdup(s);
	a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

/* True when some mount target that does not exist on the host lies strictly below dir. */
static bool needs_shadow(const char *dir, const struct mounts *m)
{
	size_t dl = strlen(dir);
	for (size_t i = 0; i < m->n; i++) {
		const char *d = m->v[i].dst;
		bool below = strcmp(dir, "/") == 0 ? strlen(d) > 1 : strncmp(d, dir, dl) == 0 && d[dl] == '/';
		if (!below)
			continue;
		struct stat st;
		if (stat(d, &st) != 0)
			return true;
	}
	return false;
}

static void add_entry(struct argv *a, const char *path, const struct mounts *m, int depth);

static void add_dir_contents(struct argv *a, const char *dir, const struct mounts *m, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = vs_xasprintf("%s/%s", dir, e->d_name);
		add_entry(a, p, m, depth + 1);
		free(p);
	}
	closedir(d);
}

static void add_entry(struct argv *a, const char *path, const struct mounts *m, int depth)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			return;
		target[n] = '\0';
		argv_add(a, "--symlink");
		argv_add(a, target);
		argv_add(a, path);
		return;
	}
	if (S_ISDIR(st.st_mode) && depth < 16 && needs_shadow(path, m)) {
		argv_add(a, "--dir");
		argv_add(a, path);
		add_dir_contents(a, path, m, depth);
		return;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return;
	argv_add(a, "--bind");
	argv_add(a, path);
	argv_add(a, path);
}

static int mount_cmp(const void *x, const void *y)
{
	const struct mount *a = x, *b = y;
	return (int)strlen(a->dst) - (int)strlen(b->dst);
}

static void build_bwrap(struct argv *a, const json_t *pod, const json_t *ctr, struct mounts *m)
{
	static const char *const top[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "home",
					  "root", "tmp", "var", "opt", "run", "srv", "work", "mnt", "media", "boot", NULL};
	argv_add(a, "bwrap");
	argv_add(a, "--die-with-parent");
	if (geteuid() != 0)
		argv_add(a, "--unshare-user");
	const char *hn = vs_json_str(pod, "spec.hostname");
	if (!hn)
		hn = cl_name(pod);
	argv_add(a, "--unshare-uts");
	argv_add(a, "--hostname");
	char host[64];
	snprintf(host, sizeof host, "%s", hn);
	argv_add(a, host);
	argv_add(a, "--tmpfs");
	argv_add(a, "/");
	if (m->n > 0) /* qsort with a NULL array is undefined even for 0 entries */
		qsort(m->v, m->n, sizeof *m->v, mount_cmp);
	for (size_t i = 0; top[i]; i++) {
		char *p = vs_xasprintf("/%s", top[i]);
		add_entry(a, p, m, 0);
		free(p);
	}
	argv_add(a, "--ro-bind");
	argv_add(a, "/sys");
	argv_add(a, "/sys");
	argv_add(a, "--proc");
	argv_add(a, "/proc");
	argv_add(a, "--dev");
	argv_add(a, "/dev");
	for (size_t i = 0; i < m->n; i++) {
		argv_add(a, m->v[i].ro ? "--ro-bind" : "--bind");
		argv_add(a, m->v[i].src);
		argv_add(a, m->v[i].dst);
	}
	const char *wd = vs_json_str(ctr, "workingDir");
	argv_add(a, "--chdir");
	argv_add(a, wd && *wd ? wd : "/");
	argv_add(a, "--");
}

/* ---- environment ------------------------------------------------------------------------------ */

static char *env_from_ref(sim_cluster *c, const json_t *pod, const json_t *from)
{
	const char *fp = vs_json_str(from, "fieldRef.fieldPath");
	if (fp) {
		if (strcmp(fp, "metadata.name") == 0)
			return vs_xstrdup(cl_name(pod));
		if (strcmp(fp, "metadata.namespace") == 0)
			return vs_xstrdup(cl_ns(pod));
		if (strcmp(fp, "metadata.uid") == 0)
			return vs_xstrdup(cl_uid(pod));
		if (strcmp(fp, "spec.nodeName") == 0)
			return vs_xstrdup(vs_json_str(pod, "spec.nodeName") ?: "");
		if (strcmp(fp, "spec.serviceAccountName") == 0)
			return vs_xstrdup(vs_json_str(pod, "spec.serviceAccountName") ?: "default");
		if (strcmp(fp, "status.podIP") == 0 || strcmp(fp, "status.hostIP") == 0)
			return vs_xstrdup("127.0.0.1");
		if (vs_str_has_prefix(fp, "metadata.labels['") || vs_str_has_prefix(fp, "metadata.annotations['")) {
			bool lab = fp[9] == 'l';
			const char *k = strchr(fp, '\'') + 1;
			char *key = vs_xstrndup(k, strcspn(k, "'"));
			const char *val = json_string_value(
				json_object_get(vs_json_path(pod, lab ? "metadata.labels" : "metadata.annotations"), key));
			free(key);
			return vs_xstrdup(val ? val : "");
		}
		return vs_xstrdup("");
	}
	const json_t *ref = json_object_get(from, "configMapKeyRef");
	bool secret = false;
	if (!ref) {
		ref = json_object_get(from, "secretKeyRef");
		secret = ref != NULL;
	}
	if (ref) {
		json_t *obj = cl_get(c, secret ? cl_res_secret : cl_res_cm, cl_ns(pod), vs_json_str(ref, "name") ?: "");
		const char *key = vs_json_str(ref, "key");
		const char *val = key ? json_string_value(json_object_get(json_object_get(obj, "data"), key)) : NULL;
		char *out = NULL;
		if (val && secret) {
			unsigned char *bytes = NULL;
			size_t len = 0;
			if (vs_base64_decode(val, &bytes, &len, NULL) == 0)
				out = vs_xstrndup((char *)bytes, len);
			free(bytes);
		} else if (val) {
			out = vs_xstrdup(val);
		}
		json_decref(obj);
		return out ? out : vs_xstrdup("");
	}
	return vs_xstrdup("");
}

static void env_set(json_t *env, const char *k, const char *v) { json_object_set_new(env, k, json_string(v)); }

static void build_env(sim_cluster *c, const json_t *pod, const json_t *ctr, struct argv *out)
{
	json_t *env = json_object(); /* ordered by insertion in jansson >= 2.8 */
	env_set(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_set(env, "HOME", "/root");
	env_set(env, "HOSTNAME", vs_json_str(pod, "spec.hostname") ?: cl_name(pod));
	env_set(env, "KUBERNETES_SERVICE_HOST", "127.0.0.1");
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(ctr, "envFrom"), i, e) {
		const json_t *ref = json_object_get(e, "configMapRef");
		bool secret = !ref;
		if (!ref)
			ref = json_object_get(e, "secretRef");
		json_t *obj = ref ? cl_get(c, secret ? cl_res_secret : cl_res_cm, cl_ns(pod), vs_json_str(ref, "name") ?: "")
				  : NULL;
		const char *prefix = vs_json_str(e, "prefix") ?: "";
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(obj, "data"), k, v) {
			if (!json_is_string(v))
				continue;
			char *name = vs_xasprintf("%s%s", prefix, k);
			if (secret) {
				unsigned char *bytes = NULL;
				size_t len = 0;
				if (vs_base64_decode(json_string_value(v), &bytes, &len, NULL) == 0) {
					char *s = vs_xstrndup((char *)bytes, len);
					env_set(env, name, s);
					free(s);
				}
				free(bytes);
			} else {
				env_set(env, name, json_string_value(v));
			}
			free(name);
		}
		json_decref(obj);
	}
	json_array_foreach(json_object_get(ctr, "env"), i, e) {
		const char *name = vs_json_str(e, "name");
		if (!name)
			continue;
		const json_t *from = json_object_get(e, "valueFrom");
		if (from) {
			char *v = env_from_ref(c, pod, from);
			env_set(env, name, v);
			free(v);
		} else {
			env_set(env, name, vs_json_str(e, "value") ?: "");
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach(env, k, v) {
		char *kv = vs_xasprintf("%s=%s", k, json_string_value(v));
		argv_add(out, kv);
		free(kv);
	}
	json_decref(env);
}

/* ---- starting and stopping -------------------------------------------------------------------- */

static void close_inherited_fds(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3, ~0U, 0) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		close(fd);
}

static void start_container(sim_cluster *c, const json_t *pod, const json_t *ctr, struct proc *p, const json_t *paths)
{
	struct argv args = {0}, envp = {0};
	struct mounts m = {0};
	char *dir = pod_dir(c, p->ns, p->pod, p->pod_uid);
	char *log = vs_xasprintf("%s/%s.log", dir, p->container);
	const json_t *cmd = json_object_get(ctr, "command"), *cargs = json_object_get(ctr, "args");
	if (json_array_size(cmd) + json_array_size(cargs) == 0) {
		free(p->fatal);
		p->fatal = vs_xstrdup("no command: volshift-sim runs the host command, images are not pulled");
		p->done = true;
		goto done;
	}
	container_mounts(pod, ctr, paths, &m);
	build_bwrap(&args, pod, ctr, &m);
	size_t i;
	json_t *s;
	json_array_foreach(cmd, i, s) argv_add(&args, json_string_value(s) ?: "");
	json_array_foreach(cargs, i, s) argv_add(&args, json_string_value(s) ?: "");
	build_env(c, pod, ctr, &envp);
	if (!envp.v)
		argv_add(&envp, "PATH=/usr/bin:/bin");
	vs_mkdir_p(dir, 0755, NULL);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		vs_warn("node: cannot open %s: %s", log, strerror(errno));
		p->restart_at = vs_time_mono_ms() + 1000;
		goto done;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close_inherited_fds();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execve("/usr/bin/bwrap", args.v, envp.v);
		execvpe("bwrap", args.v, envp.v);
		static const char msg[] = "volshift-sim: cannot execute bwrap\n";
		ssize_t w = write(2, msg, sizeof msg - 1);
		(void)w;
		_exit(127);
	}
	close(fd);
	if (pid < 0) {
		vs_warn("node: fork for %s/%s: %s", p->ns, p->pod, strerror(errno));
		p->restart_at = vs_time_mono_ms() + 1000;
		goto done;
	}
	p->pid = pid;
	p->started = vs_time_now();
	p->has_exit = false;
	p->restart_at = 0;
	vs_info("node: started %s/%s container %s as pid %d", p->ns, p->pod, p->container, (int)pid);
done:
	mounts_free(&m);
	argv_free(&args);
	argv_free(&envp);
	free(dir);
	free(log);
}

static const char *restart_policy(const json_t *pod)
{
	return vs_json_str(pod, "spec.restartPolicy") ?: "Always";
}

/* After an exit: schedule a restart by policy, or mark the container done. */
static void after_exit(const json_t *pod, struct proc *p)
{
	if (!p->has_exit || p->done || p->restart_at)
		return;
	const char *rp = restart_policy(pod);
	bool again = strcmp(rp, "Always") == 0 || (strcmp(rp, "OnFailure") == 0 && p->exit_code != 0);
	if (!again) {
		p->done = true;
		return;
	}
	char s[32], f[32];
	vs_time_format(p->started, s);
	vs_time_format(p->finished, f);
	json_decref(p->last_term);
	p->last_term = json_pack("{s:i, s:s, s:s, s:s, s:s}", "exitCode", p->exit_code, "reason",
				 p->exit_code == 0 ? "Completed" : "Error", "startedAt", s, "finishedAt", f, "containerID", "");
	int64_t backoff = 1000LL << (p->restarts < 4 ? p->restarts : 4);
	if (backoff > 10000)
		backoff = 10000;
	p->restart_at = vs_time_mono_ms() + backoff;
}

/* ---- status ----------------------------------------------------------------------------------- */

static json_t *container_status(const json_t *ctr, const struct proc *p, const char *waiting_reason,
				const char *waiting_msg)
{
	char ts[32], fs[32];
	json_t *st = json_pack("{s:s, s:s, s:s, s:i}", "name", vs_json_str(ctr, "name") ?: "", "image",
			       vs_json_str(ctr, "image") ?: "", "imageID", "", "restartCount", p ? p->restarts : 0);
	json_t *state;
	bool running = p && p->pid > 0;
	if (running) {
		vs_time_format(p->started, ts);
		state = json_pack("{s:{s:s}}", "running", "startedAt", ts);
		char id[32];
		snprintf(id, sizeof id, "sim://%d", (int)p->pid);
		json_object_set_new(st, "containerID", json_string(id));
	} else if (p && p->fatal) {
		state = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "CreateContainerError", "message", p->fatal);
	} else if (p && p->has_exit && !p->restart_at) {
		vs_time_format(p->started, ts);
		vs_time_format(p->finished, fs);
		state = json_pack("{s:{s:i, s:s, s:s, s:s}}", "terminated", "exitCode", p->exit_code, "reason",
				  p->exit_code == 0 ? "Completed" : "Error", "startedAt", ts, "finishedAt", fs);
	} else if (p && p->restart_at) {
		state = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "CrashLoopBackOff", "message",
				  "back-off restarting failed container");
	} else {
		state = json_pack("{s:{s:s}}", "waiting", "reason", waiting_reason ? waiting_reason : "ContainerCreating");
		if (waiting_msg)
			json_object_set_new(json_object_get(state, "waiting"), "message", json_string(waiting_msg));
	}
	json_object_set_new(st, "state", state);
	json_object_set_new(st, "lastState", p && p->last_term ? json_pack("{s:O}", "terminated", p->last_term)
							       : json_object());
	json_object_set_new(st, "ready", json_boolean(running));
	json_object_set_new(st, "started", json_boolean(running));
	return st;
}

static void write_status(sim_cluster *c, const json_t *pod, const char *waiting_reason, const char *waiting_msg)
{
	const char *uid = cl_uid(pod);
	json_t *statuses = json_array();
	bool all_ready = true, any_running = false, all_done = true, all_ok = true, any_fatal = false;
	size_t i;
	json_t *ctr;
	int64_t start = 0;
	json_array_foreach(vs_json_path(pod, "spec.containers"), i, ctr) {
		struct proc *p = proc_find(c, uid, vs_json_str(ctr, "name") ?: "");
		json_array_append_new(statuses, container_status(ctr, p, waiting_reason, waiting_msg));
		bool running = p && p->pid > 0;
		any_running |= running;
		all_ready &= running;
		all_done &= p && p->done;
		all_ok &= p && p->done && !p->fatal && p->exit_code == 0;
		any_fatal |= p && p->fatal;
		if (p && p->started && (!start || p->started < start))
			start = p->started;
	}
	const char *rp = restart_policy(pod);
	const char *phase = "Pending";
	if (all_done && json_array_size(statuses) > 0 && !(any_fatal && strcmp(rp, "Always") == 0))
		phase = all_ok ? "Succeeded" : "Failed";
	else if (any_running || start)
		phase = "Running";
	json_t *status = json_deep_copy(json_object_get(pod, "status"));
	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	const char *old_start = json_string_value(json_object_get(status, "startTime"));
	char now[32];
	vs_time_format(vs_time_now(), now);
	const char *st_time = old_start ? old_start : now;
	bool ready = all_ready && strcmp(phase, "Running") == 0;
	const char *ready_s = ready ? "True" : "False";
	const char *init_s = "True";
	/* keep each condition's lastTransitionTime while its status stays */
	json_t *old = json_object_get(status, "conditions");
	json_t *conds = json_array();
	const char *types[] = {"Initialized", "Ready", "ContainersReady", "PodScheduled"};
	const char *vals[] = {init_s, ready_s, ready_s, "True"};
	for (size_t k = 0; k < 4; k++) {
		const char *ltt = now;
		json_t *oc;
		json_array_foreach(old, i, oc) {
			const char *t = vs_json_str(oc, "type"), *s = vs_json_str(oc, "status");
			if (t && s && strcmp(t, types[k]) == 0 && strcmp(s, vals[k]) == 0 && vs_json_str(oc, "lastTransitionTime"))
				ltt = vs_json_str(oc, "lastTransitionTime");
		}
		json_t *cnd = json_pack("{s:s, s:s, s:s}", "type", types[k], "status", vals[k], "lastTransitionTime", ltt);
		if (!ready && (k == 1 || k == 2))
			json_object_set_new(cnd, "reason", json_string(strcmp(phase, "Succeeded") == 0 ? "PodCompleted"
												 : "ContainersNotReady"));
		json_array_append_new(conds, cnd);
	}
	json_t *next = json_deep_copy(status);
	json_object_set_new(next, "phase", json_string(phase));
	json_object_set_new(next, "conditions", conds);
	json_object_set_new(next, "containerStatuses", statuses);
	json_object_set_new(next, "hostIP", json_string("127.0.0.1"));
	json_object_set_new(next, "podIP", json_string("127.0.0.1"));
	json_object_set_new(next, "podIPs", json_pack("[{s:s}]", "ip", "127.0.0.1"));
	json_object_set_new(next, "startTime", json_string(st_time));
	json_object_set_new(next, "qosClass", json_string(vs_json_str(status, "qosClass") ?: "BestEffort"));
	cl_update_status(c, cl_res_pod, pod, next);
	json_decref(next);
	json_decref(status);
}

/* ---- the pod lifecycle ------------------------------------------------------------------------ */

static bool pod_has_running(sim_cluster *c, const char *uid)
{
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (strcmp(p->pod_uid, uid) == 0 && p->pid > 0)
			return true;
	return false;
}

/*
 * Signal a container as a container runtime does: SIGTERM to its main process only (bwrap's child,
 * the container's command, which may trap it and go on until the grace period ends), SIGKILL to
 * everything in it. bwrap itself must not get SIGTERM: it would die, and --die-with-parent would
 * kill the command with it. Until bwrap has forked its child, the signal goes to the whole group.
 */
static void signal_container(pid_t pid, int sig)
{
	char path[64];
	FILE *f;
	int child, n = 0;

	if (sig == SIGTERM) {
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
		f = fopen(path, "r");
		while (f && fscanf(f, "%d", &child) == 1)
			n += kill(child, sig) == 0;
		if (f)
			fclose(f);
	}
	if (n == 0)
		kill(-pid, sig);
}

static void signal_pod(sim_cluster *c, const char *uid, int sig)
{
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (strcmp(p->pod_uid, uid) == 0 && p->pid > 0)
			signal_container(p->pid, sig);
}

static void terminate_pod(sim_cluster *c, const json_t *pod)
{
	const char *uid = cl_uid(pod);
	if (pod_has_running(c, uid)) {
		int64_t now = vs_time_mono_ms();
		struct proc *first = proc_find(c, uid, NULL);
		if (!first->term_sent) {
			for (struct proc *p = c->agent->procs; p; p = p->next)
				if (strcmp(p->pod_uid, uid) == 0)
					p->term_sent = now;
			vs_info("node: stopping pod %s/%s (SIGTERM)", cl_ns(pod), cl_name(pod));
			signal_pod(c, uid, SIGTERM);
			sim_api_event(c->st, pod, "Normal", "Killing", "Stopping container %s", first->container);
		} else {
			long grace = (long)vs_json_int(pod, "metadata.deletionGracePeriodSeconds", 30);
			if (!first->kill_sent && now - first->term_sent >= grace * 1000) {
				first->kill_sent = true;
				signal_pod(c, uid, SIGKILL);
			}
		}
		return;
	}
	/* nothing of the pod runs any more: let the API server remove the object */
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (strcmp(p->pod_uid, uid) == 0)
			p->done = true;
	vs_error err;
	vs_error_clear(&err);
	sim_delete_opts opts = {.propagation = SIM_PROPAGATE_BACKGROUND, .precondition_uid = uid, .grace_period_seconds = 0};
	bool deleted = false;
	if (sim_api_delete(c->st, cl_res_pod, cl_ns(pod), cl_name(pod), &opts, NULL, &deleted, &err) != 0 &&
	    !vs_error_is(&err, "NotFound") && !vs_error_is(&err, "Conflict"))
		vs_warn("node: delete pod %s/%s: %s", cl_ns(pod), cl_name(pod), err.message);
}

static void sync_pod(sim_cluster *c, const json_t *pod)
{
	const char *uid = cl_uid(pod);
	if (!uid)
		return;
	if (cl_deleting(pod)) {
		terminate_pod(c, pod);
		return;
	}
	const char *phase = vs_json_str(pod, "status.phase");
	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
		return;
	char *dir = pod_dir(c, cl_ns(pod), cl_name(pod), uid);
	json_t *paths = json_object();
	char *why = NULL;
	vs_error err;
	vs_error_clear(&err);
	bool have = proc_find(c, uid, NULL) != NULL;
	bool need_paths = !have;
	for (struct proc *p = c->agent->procs; p && !need_paths; p = p->next)
		need_paths = strcmp(p->pod_uid, uid) == 0 && p->restart_at && p->restart_at <= vs_time_mono_ms();
	if (need_paths) {
		vs_mkdir_p(dir, 0755, NULL);
		int rc = resolve_volumes(c, pod, dir, paths, &why, &err);
		if (rc < 0) {
			cl_event_once(c, pod, "Warning", "FailedMount", "MountVolume.SetUp failed: %s", err.message);
			write_status(c, pod, "ContainerCreating", err.message);
			goto done;
		}
		if (rc == 1) {
			write_status(c, pod, "ContainerCreating", why);
			goto done;
		}
	}
	size_t i;
	json_t *ctr;
	json_array_foreach(vs_json_path(pod, "spec.containers"), i, ctr) {
		const char *cname = vs_json_str(ctr, "name");
		if (!cname)
			continue;
		struct proc *p = proc_find(c, uid, cname);
		if (!p) {
			p = vs_xcalloc(1, sizeof *p);
			snprintf(p->pod_uid, sizeof p->pod_uid, "%s", uid);
			p->ns = vs_xstrdup(cl_ns(pod));
			p->pod = vs_xstrdup(cl_name(pod));
			p->container = vs_xstrdup(cname);
			p->next = c->agent->procs;
			c->agent->procs = p;
			start_container(c, pod, ctr, p, paths);
			continue;
		}
		after_exit(pod, p);
		if (p->restart_at && p->restart_at <= vs_time_mono_ms() && !p->done) {
			p->restarts++;
			start_container(c, pod, ctr, p, paths);
		}
	}
	write_status(c, pod, NULL, NULL);
done:
	free(why);
	json_decref(paths);
	free(dir);
}

/* Processes and directories of pods whose object is gone. */
static void sweep(sim_cluster *c, const json_t *pods)
{
	json_t *live = json_object();
	size_t i;
	json_t *pod;
	json_array_foreach(pods, i, pod)
		if (cl_uid(pod))
			json_object_set_new(live, cl_uid(pod), json_true());
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (!json_object_get(live, p->pod_uid) && p->pid > 0 && !p->kill_sent) {
			kill(-p->pid, SIGKILL);
			p->kill_sent = true;
		}
	struct proc **pp = &c->agent->procs;
	while (*pp) {
		struct proc *p = *pp;
		if (!json_object_get(live, p->pod_uid) && p->pid <= 0) {
			*pp = p->next;
			proc_free(p);
		} else {
			pp = &p->next;
		}
	}
	char *root = vs_xasprintf("%s/pods", c->data_dir);
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *us = strrchr(e->d_name, '_');
		if (e->d_name[0] == '.' || !us || json_object_get(live, us + 1) || proc_find(c, us + 1, NULL))
			continue;
		char *path = vs_xasprintf("%s/%s", root, e->d_name);
		vs_rm_rf(path, NULL);
		free(path);
	}
	if (d)
		closedir(d);
	free(root);
	json_decref(live);
}

static void node_reconcile(sim_cluster *c)
{
	reap(c);
	json_t *pods = cl_list(c, cl_res_pod, NULL, NULL);
	size_t i;
	json_t *pod;
	json_array_foreach(pods, i, pod) {
		const char *nn = vs_json_str(pod, "spec.nodeName");
		if (!nn || !*nn)
			continue;
		sync_pod(c, pod);
	}
	sweep(c, pods);
	json_decref(pods);
}

/* Stop every pod process: SIGTERM, up to 2 s, SIGKILL. Runs in the node thread (bwrap's
 * --die-with-parent is tied to the thread that forked it) or after it, when it never started. */
static void stop_all(sim_cluster *c)
{
	if (!c->agent)
		return;
	bool any = false;
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (p->pid > 0) {
			kill(-p->pid, SIGTERM);
			any = true;
		}
	int64_t deadline = vs_time_mono_ms() + 2000;
	while (any && vs_time_mono_ms() < deadline) {
		reap(c);
		any = false;
		for (struct proc *p = c->agent->procs; p; p = p->next)
			any |= p->pid > 0;
		if (any)
			vs_sleep_ms(50);
	}
	for (struct proc *p = c->agent->procs; p; p = p->next)
		if (p->pid > 0) {
			kill(-p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			p->pid = 0;
		}
}

int sim_node_start(sim_cluster *c, vs_error *err)
{
	c->agent = vs_xcalloc(1, sizeof *c->agent);
	return cl_spawn(c, "node", node_reconcile, stop_all, 200, err);
}

void sim_node_stop(sim_cluster *c)
{
	if (!c->agent)
		return;
	stop_all(c);
	while (c->agent->procs) {
		struct proc *p = c->agent->procs;
		c->agent->procs = p->next;
		proc_free(p);
	}
	free(c->agent);
	c->agent = NULL;
}
