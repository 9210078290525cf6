/*
 * node: the kubelet of volshift-sim. Every node is this host, so one agent plays the kubelet of
 * each node: for each pod bound to a node it prepares the pod's volumes (claims' directories,
 * emptyDir, configMap, secret, hostPath), runs its init containers one after the other, then each
 * container's command, each as a host process inside bubblewrap (its own mount namespace whose root
 * is a tmpfs with the host's top-level directories bound in and the volumes mounted at their
 * mountPaths), restarts containers by restartPolicy with the kubelet's back-off, reports the pod's
 * status, and on deletion stops the processes (SIGTERM, SIGKILL after the grace period) before
 * removing the pod object. Images are not pulled: the command runs from the host.
 *
 * When things happen is a real kubelet's (1.26), so that a pod's start and stop take on
 * volshift-sim what they take on a real node. Each node has its own clocks, their phases drawn at
 * random from the cluster's seeded generator. The model, and the real mechanism behind each step:
 *
 *  - The kubelet sees a pod, and later its deletion, through its watch of the API: each arrives
 *    cl_informer_delay_ms after the change (the kubelet's pod config source is an informer).
 *  - Container state is known only through the PLEG (pleg/generic.go): every --pleg-relist-period
 *    (1 s), at the node's own phase, a relist compares each container with what the last relist
 *    saw; a change is an event that queues a sync of the pod. Pod status is generated from what
 *    the last relist saw (the pod cache), never from the processes themselves: a container shows
 *    running, and the pod Ready (no readiness probes), only from the relist after its start; an
 *    exit, the container's own (a finished Job, a copy pod) or a kill, only from the relist after it.
 *  - Each pod has a pod worker (pod_workers.go). Work is queued by the first sight of the pod, PLEG
 *    events, the deletion, phase transitions and back-off retries, and runs one sync at a time.
 *    Before every sync but the first the worker waits for a relist that began after its last sync
 *    ended (podCache.GetNewerThan(uid, lastSyncTime): "this adds ~1s of latency on all
 *    transitions from sync to terminating to terminated").
 *  - syncPod (kubelet.go): writes the status (the status manager writes at once); if the phase is
 *    terminal (all containers exited for good), the worker moves on to terminating; otherwise
 *    WaitForAttachAndMount, then starts (or restarts) containers. Volumes are mounted by the
 *    volume manager (volumemanager/): its populator loop adds the pod's volumes at its first run
 *    after the kubelet saw the pod, its reconciler loop mounts them at its next run (both every
 *    --volume-loop-period, 100 ms); WaitForAttachAndMount checks at once, then every
 *    --mount-poll-period (300 ms). Almost every pod has a volume, the projected service-account
 *    volume that the ServiceAccount admission plugin adds (sa_admission.c): so it waits one poll.
 *    A volume that cannot be set up (claim not bound, configMap missing) is retried at every
 *    reconciler run with a FailedMount event (a real kubelet's wait gives up after 2 minutes and
 *    retries the sync; not modelled).
 *  - Init containers (kuberuntime's computePodActions, findNextInitContainerToRun): until the last
 *    one has exited 0, a sync starts only the next one, or restarts a failed one (same back-off as
 *    below) unless restartPolicy is Never, where getPhase makes the pod Failed instead. So each one
 *    starts at the sync after the relist that saw the one before exit; the containers start at the
 *    sync after the relist that saw the last one succeed. Until then the pod is Pending, its
 *    containers wait with PodInitializing, and its Initialized condition is False.
 *  - Restarts (kuberuntime's doBackOff, flowcontrol.Backoff): the first restart happens at the sync
 *    after the exit was relisted; after that a container waits 10 s, doubling to 5 minutes (reset
 *    after 10 minutes without a crash), showing CrashLoopBackOff; the worker retries after its
 *    back-off period, 10 s with up to 50 % jitter.
 *  - Deletion: syncTerminatingPod writes the status and stops the containers (SIGTERM to each
 *    container's process, SIGKILL to all of its processes when the grace period ends: the
 *    deletion's, at least the runtime's minimum of 2 s); it returns once they are gone. syncTerminatedPod (after the next
 *    relist) writes the status the relist saw, then WaitForUnmount: the populator drops the
 *    volumes at its next run once the containers are gone, the reconciler unmounts at its run
 *    after that, and the wait polls every --mount-poll-period. Then the status manager's
 *    TerminatePod: the final status, and for a pod being deleted the DELETE of the object (grace
 *    0, uid precondition): only now is it gone.
 *  - A pod whose object disappears without that (a forced deletion) has its processes killed at
 *    once.
 *  - SIGTERM goes to the container's own process (the command bubblewrap runs), as a runtime signals
 *    the container's init. There is no PID namespace, so a process without a handler dies of it
 *    at once, where a real container's PID 1 would ignore it and be killed when the grace period
 *    ends.
 *
 * The agent runs in one thread (bwrap's --die-with-parent is tied to the thread that forked),
 * woken by every store change and at least every NODE_TICK_MS: each due time above is acted on
 * within about that much. Nothing here is touched by another thread, except the relist epochs
 * (sim_cluster_pleg_epoch_ms) under the agent's lock.
 *
 * Mount points: the sandbox's root is a tmpfs. A mountPath whose parent is missing on the host is
 * created on the tmpfs: any host directory on the way to it is not bound whole but rebuilt on the
 * tmpfs from binds of its entries, so nothing is ever created on the host.
 */
#include "cluster_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The agent's own resolution: how often it looks at its clocks when nothing else wakes it. */
#define NODE_TICK_MS 10
/* Room for a pod's uid. */
#define UID_MAX 40
/* Container restart back-off: kubelet.go backOffPeriod (10 s), MaxContainerBackOff (300 s); an
 * entry is forgotten after twice the maximum without a crash (flowcontrol.Backoff). */
#define BACKOFF_INITIAL_MS 10000
#define BACKOFF_MAX_MS 300000
/* The pod worker's retry after a sync that could not finish (a container in back-off): the back-off
 * period with workerBackOffPeriodJitterFactor 0.5. */
#define WORKER_RETRY_MS 10000
#define WORKER_RETRY_JITTER_MS 5000
/* kuberuntime's minimumGracePeriodInSeconds: a container always gets this long after SIGTERM. */
#define MIN_GRACE_S 2
/* A pod's grace period when the pod does not say: the API's default terminationGracePeriodSeconds. */
#define DEFAULT_GRACE_S 30

/* One run of a container as the last PLEG relist saw it (the pod cache). */
struct seen {
	pid_t pid;         /* running, or 0 */
	pid_t last_pid;    /* the run that exited, for its containerID */
	bool exited;       /* the latest run has exited */
	int exit_code;
	int64_t started;   /* epoch s */
	int64_t finished;  /* epoch s */
	int64_t exited_ms; /* monotonic ms of the exit */
	int restarts;
	json_t *last_term; /* lastState.terminated of the run before, or NULL */
};

/* A container of a pod: its processes as they are, and as the PLEG last saw them. */
struct proc {
	struct proc *next;
	char pod_uid[UID_MAX];
	char *ns, *pod, *container;
	pid_t pid;            /* 0 when not running */
	pid_t last_pid;
	int restarts;
	int64_t started;      /* epoch s of the current (or last) run */
	bool has_exit;        /* the last run ended */
	int exit_code;
	int64_t finished;
	int64_t exited_ms;    /* monotonic ms the last run was reaped */
	json_t *last_term;    /* lastState.terminated of the run before, or NULL */
	char *fatal;          /* the container cannot run at all: the message */
	bool backing_off;     /* the last sync left it waiting for its back-off (CrashLoopBackOff) */
	int64_t backoff_ms;   /* flowcontrol.Backoff: the current delay, 0 none yet */
	int64_t backoff_last; /* ... and the exit it was counted from (monotonic ms) */
	struct seen seen;
};

/* The kubelet of one node: its clocks. */
struct kubelet {
	struct kubelet *next;
	char *node;
	int64_t pleg_epoch;       /* the first relist; one every pleg_relist_ms after it */
	int64_t relist_at;        /* the next relist */
	int64_t relisted;         /* when the last relist ran: the pod cache's timestamp (0: none yet) */
	int64_t populator_epoch;  /* the volume manager's desired-state populator loop */
	int64_t reconciler_epoch; /* ... and its reconciler loop */
};

enum stage { STAGE_SYNC, STAGE_TERMINATING, STAGE_TERMINATED, STAGE_FINISHED };
/* What a sync in progress blocks on. */
enum wait { WAIT_NONE, WAIT_MOUNT, WAIT_KILL, WAIT_UNMOUNT };

/* The pod worker of one pod (by uid) and the volume manager's view of the pod. */
struct worker {
	struct worker *next;
	char uid[UID_MAX];
	char *ns, *name;
	struct kubelet *kl;
	struct proc *ctrs;
	enum stage stage;
	enum wait wait;
	int64_t seen_at;       /* the kubelet's watch delivers the pod then */
	int64_t del_seen_at;   /* ... and its deletion then (0: not deleted) */
	long grace_s;          /* the deletion's grace period */
	bool queued;           /* work waits for the pod worker */
	int64_t retry_at;      /* a retry is queued for then (0: none) */
	int64_t last_sync;     /* lastSyncTime: when the last sync ended (0: none yet) */
	int64_t wait_until;    /* WAIT_MOUNT, WAIT_UNMOUNT: the next poll; WAIT_KILL: the SIGKILL deadline */
	bool kill_sent;
	bool delete_sent;      /* the status manager has deleted the object */
	/* the volume manager */
	bool has_volumes;      /* anything to mount (the service-account token counts) */
	int64_t mounted_at;    /* when the reconciler had them mounted (0: not yet) */
	int64_t mount_try_at;  /* the reconciler's next attempt (0: the populator has not added it yet) */
	int64_t unmounted_at;  /* when the reconciler has unmounted them after termination */
	json_t *paths;         /* volume name -> host directory, once mounted */
};

struct sim_node_agent {
	pthread_mutex_t mu;    /* guards kubelets (read by sim_cluster_pleg_epoch_ms) */
	struct kubelet *kubelets;
	struct worker *workers;
	json_t *pods;          /* the last list of pods, and its index by uid */
	json_t *by_uid;
	uint64_t pods_rv;
	json_t *lists; /* the node thread's own (cl_list_reuse) */
};

/* ---- processes -------------------------------------------------------------------------------- */

static void proc_free(struct proc *p)
{
	free(p->ns);
	free(p->pod);
	free(p->container);
	free(p->fatal);
	json_decref(p->last_term);
	json_decref(p->seen.last_term);
	free(p);
}

static struct proc *ctr_find(const struct worker *w, const char *container)
{
	for (struct proc *p = w->ctrs; p; p = p->next)
		if (strcmp(p->container, container) == 0)
			return p;
	return NULL;
}

static void worker_free(struct worker *w)
{
	while (w->ctrs) {
		struct proc *p = w->ctrs;
		w->ctrs = p->next;
		proc_free(p);
	}
	json_decref(w->paths);
	free(w->ns);
	free(w->name);
	free(w);
}

static bool worker_running(const struct worker *w)
{
	for (struct proc *p = w->ctrs; p; p = p->next)
		if (p->pid > 0)
			return true;
	return false;
}

/* Send sig to every running container of w: SIGTERM to the container's own process, as a runtime
 * signals a container's init (bubblewrap then ends with it); SIGKILL to all of its processes. */
static void signal_worker(struct worker *w, int sig)
{
	for (struct proc *p = w->ctrs; p; p = p->next) {
		if (p->pid <= 0)
			continue;
		/* the container's own process: the command bubblewrap runs, its child */
		pid_t main = sig == SIGKILL ? 0 : (pid_t)vs_process_first_child(p->pid);
		if (main <= 0 || kill(main, sig) != 0)
			kill(-p->pid, sig);
	}
}

static void reap(sim_cluster *c)
{
	for (struct worker *w = c->agent->workers; w; w = w->next)
		for (struct proc *p = w->ctrs; p; p = p->next) {
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
			p->exited_ms = vs_time_mono_ms();
			vs_info("node: %s/%s container %s (pid %d) exited with %d", p->ns, p->pod, p->container,
				(int)p->pid, p->exit_code);
			p->last_pid = p->pid;
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

static char *env_from_ref(sim_cluster *c, const json_t *pod, const json_t *from);

/* The files of a downwardAPI volume or projection: each item's fieldRef, as an env var would have it. */
static int write_downward(sim_cluster *c, const json_t *pod, const json_t *items, int mode, const char *dir,
			  vs_error *err)
{
	json_t *data = json_object(), *it;
	size_t i;
	int rc;

	json_array_foreach (items, i, it) {
		const char *path = vs_json_str(it, "path");
		char *value = path && json_object_get(it, "fieldRef") ? env_from_ref(c, pod, it) : NULL;
		if (value)
			json_object_set_new(data, path, json_string(value));
		free(value);
	}
	rc = write_keys(data, false, NULL, mode, dir, err);
	json_decref(data);
	return rc;
}

/* A serviceAccountToken projection: a token of the pod's ServiceAccount bound to the pod, from the
 * API server's TokenRequest as the kubelet asks for it. 1 with *why while it cannot be had yet. */
static int write_sa_token(sim_cluster *c, const json_t *pod, const json_t *src, int mode, const char *dir, char **why,
			  vs_error *err)
{
	const char *sa = vs_json_str_or(pod, "spec.serviceAccountName", "default"), *aud = vs_json_str(src, "audience");
	json_t *audiences = aud && *aud ? json_pack("[s]", aud) : NULL, *data;
	sim_cluster_api api;
	char *token = NULL;
	vs_error terr;
	int rc = 1;

	if (!cl_api(c, &api)) {
		*why = vs_xstrdup("the API server is not serving yet");
	} else if (api.token(api.token_ctx, cl_ns(pod), sa, audiences, vs_json_int(src, "expirationSeconds", 3600), pod,
			     &token, &terr) != 0) {
		*why = vs_xasprintf("failed to fetch token: %s", terr.message);
	} else {
		data = json_pack("{s:s}", vs_json_str_or(src, "path", "token"), token);
		rc = write_keys(data, false, NULL, mode, dir, err);
		json_decref(data);
	}
	free((char *)api.ca_pem);
	free(token);
	json_decref(audiences);
	return rc;
}

/* The sources of a projected volume into dir (pkg/volume/projected). 1 with *why while one of them
 * cannot be had (a missing ConfigMap or Secret that is not optional, no token yet). */
static int write_projected(sim_cluster *c, const json_t *pod, const json_t *sources, int mode, const char *dir,
			   char **why, vs_error *err)
{
	const json_t *src;
	size_t i;
	int rc = vs_mkdir_p(dir, 0755, err);

	json_array_foreach (sources, i, src) {
		const json_t *cm = json_object_get(src, "configMap"), *sec = json_object_get(src, "secret");
		if (rc)
			break;
		if (json_object_get(src, "serviceAccountToken")) {
			rc = write_sa_token(c, pod, json_object_get(src, "serviceAccountToken"), mode, dir, why, err);
		} else if (json_object_get(src, "downwardAPI")) {
			rc = write_downward(c, pod, vs_json_path(src, "downwardAPI.items"), mode, dir, err);
		} else if (cm || sec) {
			const json_t *ref = cm ? cm : sec;
			json_t *obj =
				cl_get(c, cm ? cl_res_cm : cl_res_secret, cl_ns(pod), vs_json_str_or(ref, "name", ""));
			if (!obj && !vs_json_bool(ref, "optional", false)) {
				*why = vs_xasprintf("%s \"%s\" not found", cm ? "configmap" : "secret",
						    vs_json_str_or(ref, "name", ""));
				rc = 1;
			} else {
				rc = write_keys(json_object_get(obj, "data"), sec != NULL,
						json_object_get(ref, "items"), mode, dir, err);
			}
			json_decref(obj);
		}
	}
	return rc;
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
		const json_t *proj = json_object_get(v, "projected"), *dapi = json_object_get(v, "downwardAPI");
		if (proj || dapi) {
			char *d = vs_xasprintf("%s/volumes/%s/%s", dir, proj ? "projected" : "downwardapi", name);
			int mode = (int)vs_json_int(proj ? proj : dapi, "defaultMode", 0644);
			int rc = proj ? write_projected(c, pod, json_object_get(proj, "sources"), mode, d, why, err)
				      : write_downward(c, pod, json_object_get(dapi, "items"), mode, d, err);
			if (!rc)
				json_object_set_new(paths, name, json_string(d));
			free(d);
			if (rc)
				return rc;
			continue;
		}
		/* other volume types: an empty directory */
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
			       json_object_get(v, "secret") || json_object_get(v, "projected") ||
			       json_object_get(v, "downwardAPI");
	}
	return false;
}

/*
 * mp with the symlinks of its longest prefix that exists on the host resolved (/var/run/secrets/x
 * is /run/secrets/x): bwrap would follow them into a host directory bound whole and make the
 * mount point there, on the host. Caller frees.
 */
static char *host_target(const char *mp)
{
	char *prefix = vs_xstrdup(mp), *slash, *out, real[PATH_MAX];

	while (!realpath(prefix, real) && (slash = strrchr(prefix, '/')) && slash != prefix)
		*slash = '\0';
	if (strcmp(prefix, "/") == 0 || !realpath(prefix, real) || strcmp(real, "/") == 0)
		out = vs_xstrdup(mp);
	else
		out = vs_xasprintf("%s%s", real, mp + strlen(prefix));
	free(prefix);
	return out;
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
		out->v[out->n].dst = host_target(mp);
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

/*
 * Every top-level entry of the host's root, as the pod's, but the kernel's own file systems (bound
 * or mounted apart): host programs run from wherever they were built (a CI clone in /check, a home
 * directory) and find their libraries and configuration where the host has them.
 */
static void add_host_root(struct argv *a, const struct mounts *m)
{
	static const char *const own[] = {"proc", "sys", "dev", "lost+found", NULL};
	DIR *d = opendir("/");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		bool skip = e->d_name[0] == '.';
		for (size_t i = 0; own[i] && !skip; i++)
			skip = strcmp(e->d_name, own[i]) == 0;
		if (skip)
			continue;
		char *p = vs_xasprintf("/%s", e->d_name);
		add_entry(a, p, m, 0);
		free(p);
	}
	closedir(d);
}

static void build_bwrap(struct argv *a, const json_t *pod, const json_t *ctr, struct mounts *m)
{
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
	add_host_root(a, m);
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

/* The kubernetes Service's variables, as the kubelet sets them for the default namespace's Services:
 * here the Service is the API server itself on loopback. */
static void kubernetes_service_env(sim_cluster *c, json_t *env)
{
	sim_cluster_api api;
	char port[16], *url;

	if (!cl_api(c, &api))
		return;
	snprintf(port, sizeof port, "%d", api.port);
	url = vs_xasprintf("tcp://127.0.0.1:%d", api.port);
	env_set(env, "KUBERNETES_SERVICE_PORT", port);
	env_set(env, "KUBERNETES_SERVICE_PORT_HTTPS", port);
	env_set(env, "KUBERNETES_PORT", url);
	free(url);
	free((char *)api.ca_pem);
}

static void build_env(sim_cluster *c, const json_t *pod, const json_t *ctr, struct argv *out)
{
	json_t *env = json_object(); /* ordered by insertion in jansson >= 2.8 */
	env_set(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_set(env, "HOME", "/root");
	env_set(env, "HOSTNAME", vs_json_str(pod, "spec.hostname") ?: cl_name(pod));
	env_set(env, "KUBERNETES_SERVICE_HOST", "127.0.0.1");
	kubernetes_service_env(c, env);
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

/* ---- starting containers ---------------------------------------------------------------------- */

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

/* Start a run of container ctr: false when it could not be started now (the sync is retried). A
 * container without a command gets p->fatal instead and never runs. */
static bool start_container(sim_cluster *c, const json_t *pod, const json_t *ctr, struct proc *p, const json_t *paths)
{
	struct argv args = {0}, envp = {0};
	struct mounts m = {0};
	char *dir = pod_dir(c, p->ns, p->pod, p->pod_uid);
	char *log = vs_xasprintf("%s/%s.log", dir, p->container);
	const json_t *cmd = json_object_get(ctr, "command"), *cargs = json_object_get(ctr, "args");
	bool ok = true;
	if (json_array_size(cmd) + json_array_size(cargs) == 0) {
		free(p->fatal);
		p->fatal = vs_xstrdup("no command: volshift-sim runs the host command, images are not pulled");
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
		ok = false;
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
		ok = false;
		goto done;
	}
	p->pid = pid;
	p->started = vs_time_now();
	p->has_exit = false;
	vs_info("node: started %s/%s container %s as pid %d", p->ns, p->pod, p->container, (int)pid);
done:
	mounts_free(&m);
	argv_free(&args);
	argv_free(&envp);
	free(dir);
	free(log);
	return ok;
}

static const char *restart_policy(const json_t *pod)
{
	return vs_json_str(pod, "spec.restartPolicy") ?: "Always";
}

/* lastState.terminated of a run (new reference). */
static json_t *terminated_state(int code, int64_t started, int64_t finished, pid_t pid)
{
	char s[32], f[32], id[32];
	vs_time_format(started, s);
	vs_time_format(finished, f);
	snprintf(id, sizeof id, "sim://%d", (int)pid);
	return json_pack("{s:i, s:s, s:s, s:s, s:s}", "exitCode", code, "reason", code == 0 ? "Completed" : "Error",
			 "startedAt", s, "finishedAt", f, "containerID", id);
}

/* flowcontrol.Backoff: an entry not updated for twice the maximum is forgotten. */
static bool backoff_expired(const struct proc *p, int64_t exited)
{
	return !p->backoff_ms || exited - p->backoff_last > 2 * BACKOFF_MAX_MS;
}

/* IsInBackOffSince(container, its exit): true while its restart must wait. */
static bool in_backoff(const struct proc *p, int64_t exited, int64_t now)
{
	return !backoff_expired(p, exited) && now - exited < p->backoff_ms;
}

/* Next(container, its exit): the delay before the restart after this one. */
static void backoff_next(struct proc *p, int64_t exited)
{
	if (backoff_expired(p, exited))
		p->backoff_ms = BACKOFF_INITIAL_MS;
	else
		p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
	p->backoff_last = exited;
}

static struct proc *proc_new(struct worker *w, const char *container)
{
	struct proc *p = vs_xcalloc(1, sizeof *p);
	snprintf(p->pod_uid, sizeof p->pod_uid, "%s", w->uid);
	p->ns = vs_xstrdup(w->ns);
	p->pod = vs_xstrdup(w->name);
	p->container = vs_xstrdup(container);
	p->next = w->ctrs;
	w->ctrs = p;
	return p;
}

/* The pod worker retries the sync later: its back-off period, with jitter. */
static void queue_retry(sim_cluster *c, struct worker *w, int64_t now)
{
	if (!w->retry_at)
		w->retry_at = now + WORKER_RETRY_MS + cl_random_ms(c, 0, WORKER_RETRY_JITTER_MS);
}

/* Start container ctr (its first run), or, once the PLEG has seen its exit and restart says so,
 * run it again when its back-off allows (kuberuntime's doBackOff); a start that fails is retried. */
static void run_container(sim_cluster *c, struct worker *w, const json_t *pod, const json_t *ctr, bool restart,
			  int64_t now)
{
	const char *cname = vs_json_str(ctr, "name");
	if (!cname)
		return;
	struct proc *p = ctr_find(w, cname);
	if (!p)
		p = proc_new(w, cname);
	if (p->fatal || p->pid > 0)
		return;
	if (!p->has_exit) { /* never ran: its first start, or a retry of it */
		if (!start_container(c, pod, ctr, p, w->paths))
			queue_retry(c, w, now);
		return;
	}
	if (!restart || !p->seen.exited || p->seen.restarts != p->restarts)
		return; /* not to run again, or its exit is not relisted yet */
	if (in_backoff(p, p->seen.exited_ms, now)) {
		p->backing_off = true;
		queue_retry(c, w, now);
		return;
	}
	backoff_next(p, p->seen.exited_ms);
	p->backing_off = false;
	json_t *term = terminated_state(p->exit_code, p->started, p->finished, p->last_pid);
	if (!start_container(c, pod, ctr, p, w->paths)) {
		json_decref(term);
		queue_retry(c, w, now);
		return;
	}
	json_decref(p->last_term);
	p->last_term = term;
	p->restarts++;
}

/* The container named like ctr as the pod cache has it: NULL when it never ran. */
static const struct seen *seen_of(const struct worker *w, const json_t *ctr)
{
	const struct proc *p = ctr_find(w, vs_json_str(ctr, "name") ?: "");
	return p && (p->seen.pid > 0 || p->seen.exited) ? &p->seen : NULL;
}

/* kuberuntime's findNextInitContainerToRun over the pod cache: true when initialization is done;
 * otherwise *next is the init container to start (or to restart: *failed), or NULL while one runs. */
static bool init_done(const struct worker *w, const json_t *pod, const json_t **next, bool *failed)
{
	const json_t *inits = vs_json_path(pod, "spec.initContainers"), *ctr;
	size_t n = json_array_size(inits), i;
	*next = NULL;
	*failed = false;
	if (n == 0)
		return true;
	/* a main container running: the init containers ran, even if the runtime forgot them */
	json_array_foreach(vs_json_path(pod, "spec.containers"), i, ctr) {
		const struct seen *s = seen_of(w, ctr);
		if (s && s->pid > 0)
			return true;
	}
	for (i = n; i-- > 0;) {
		const struct seen *s = seen_of(w, json_array_get(inits, i));
		if (s && s->exited && s->exit_code != 0) {
			*next = json_array_get(inits, i);
			*failed = true;
			return false;
		}
	}
	for (i = n; i-- > 0;) {
		const struct seen *s = seen_of(w, json_array_get(inits, i));
		if (!s)
			continue;
		if (s->pid > 0)
			return false;
		if (i == n - 1)
			return true;
		*next = json_array_get(inits, i + 1);
		return false;
	}
	*next = json_array_get(inits, 0);
	return false;
}

/* The end of syncPod (kuberuntime SyncPod): while initialization is not done, start the next init
 * container (one per sync) or restart a failed one unless restartPolicy is Never (the pod has then
 * failed); once it is, start the containers that never ran and restart those whose exit the PLEG
 * has seen when restartPolicy says so and their back-off allows. */
static void start_containers(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	const char *rp = restart_policy(pod);
	const json_t *next, *ctr;
	bool failed;
	if (!init_done(w, pod, &next, &failed)) {
		if (next && !(failed && strcmp(rp, "Never") == 0))
			run_container(c, w, pod, next, true, now);
		return;
	}
	size_t i;
	json_array_foreach(vs_json_path(pod, "spec.containers"), i, ctr) {
		const struct seen *s = seen_of(w, ctr);
		bool again = strcmp(rp, "Always") == 0 || (strcmp(rp, "OnFailure") == 0 && s && s->exit_code != 0);
		run_container(c, w, pod, ctr, again, now);
	}
}

/* ---- the PLEG --------------------------------------------------------------------------------- */

/* The first instant epoch + k * period (k >= 0) at or after t. */
static int64_t next_tick(int64_t epoch, int64_t period, int64_t t)
{
	if (t <= epoch)
		return epoch;
	return epoch + (t - epoch + period - 1) / period * period;
}

/* What a relist sees of container p; true when it changed since the last relist (an event). */
static bool relist_container(struct proc *p)
{
	bool exited = p->pid == 0 && p->has_exit;
	struct seen *s = &p->seen;
	if (s->pid == p->pid && s->exited == exited && s->restarts == p->restarts)
		return false;
	s->pid = p->pid;
	s->last_pid = p->last_pid;
	s->exited = exited;
	s->exit_code = p->exit_code;
	s->started = p->started;
	s->finished = p->finished;
	s->exited_ms = p->exited_ms;
	s->restarts = p->restarts;
	json_decref(s->last_term);
	s->last_term = json_incref(p->last_term);
	return true;
}

/* GenericPLEG.relist: every container of the node's pods; a pod with a change gets a sync. */
static void relist(sim_cluster *c, struct kubelet *kl, int64_t now)
{
	for (struct worker *w = c->agent->workers; w; w = w->next) {
		if (w->kl != kl)
			continue;
		bool event = false;
		for (struct proc *p = w->ctrs; p; p = p->next)
			event |= relist_container(p);
		if (event && w->stage != STAGE_FINISHED)
			w->queued = true;
	}
	kl->relisted = now;
	kl->relist_at = next_tick(kl->pleg_epoch, c->timing.pleg_relist_ms, now + 1);
}

/* ---- status ----------------------------------------------------------------------------------- */

/* How generate_status shows one container. */
struct ctr_view {
	bool init;     /* an init container: ready once it has succeeded, no "started" */
	bool has_init; /* the pod has init containers: what has not run waits with PodInitializing */
	bool final;    /* TerminatePod's status: a back-off is not shown */
	bool lost;     /* ... and a container with no status shows as lost (ContainerStatusUnknown) */
};

/* A container's status from the pod cache (new reference). */
static json_t *container_status(const json_t *pod, const json_t *ctr, const struct proc *p, const struct ctr_view *v)
{
	const struct seen *s = p ? &p->seen : NULL;
	const char *name = vs_json_str(ctr, "name") ?: "";
	json_t *st = json_pack("{s:s, s:s, s:s, s:i}", "name", name, "image", vs_json_str(ctr, "image") ?: "", "imageID",
			       "", "restartCount", s ? s->restarts : 0);
	json_t *state, *last = s && s->last_term ? json_pack("{s:O}", "terminated", s->last_term) : json_object();
	bool running = s && s->pid > 0, ready = running && !v->init;
	if (running) {
		char ts[32], id[32];
		vs_time_format(s->started, ts);
		snprintf(id, sizeof id, "sim://%d", (int)s->pid);
		state = json_pack("{s:{s:s}}", "running", "startedAt", ts);
		json_object_set_new(st, "containerID", json_string(id));
	} else if (s && s->exited) {
		json_t *term = terminated_state(s->exit_code, s->started, s->finished, s->last_pid);
		json_object_set(st, "containerID", json_object_get(term, "containerID"));
		ready = v->init && s->exit_code == 0;
		if (p->backing_off && !v->final) {
			char msg[300];
			snprintf(msg, sizeof msg, "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
				 (long long)(p->backoff_ms / 1000), name, cl_name(pod), cl_ns(pod), cl_uid(pod));
			state = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "CrashLoopBackOff", "message", msg);
			json_decref(last);
			last = json_pack("{s:o}", "terminated", term);
		} else {
			state = json_pack("{s:o}", "terminated", term);
		}
	} else if (v->lost) {
		state = json_pack("{s:{s:i, s:s, s:s}}", "terminated", "exitCode", 137, "reason", "ContainerStatusUnknown",
				  "message", "The container could not be located when the pod was terminated");
	} else if (p && p->fatal) {
		state = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "CreateContainerError", "message", p->fatal);
	} else {
		const char *reason = v->has_init ? "PodInitializing" : "ContainerCreating";
		state = json_pack("{s:{s:s}}", "waiting", "reason", reason);
	}
	json_object_set_new(st, "state", state);
	json_object_set_new(st, "lastState", last);
	json_object_set_new(st, "ready", json_boolean(ready));
	if (!v->init)
		json_object_set_new(st, "started", json_boolean(running));
	return st;
}

/* The exit code of a terminated state (state.terminated or lastState.terminated), -1 when there is none. */
static long exit_code_of(const json_t *cs, const char *path)
{
	const json_t *t = vs_json_path(cs, path);
	return t ? (long)vs_json_int(t, "exitCode", 0) : -1;
}

/* The kubelet's getPhase from the statuses it generated. */
static const char *pod_phase(const char *restart_policy, const json_t *init_statuses, const json_t *statuses)
{
	int pending_init = 0, failed_init = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
	size_t i;
	json_t *cs;
	json_array_foreach(init_statuses, i, cs) {
		long code = exit_code_of(cs, "state.terminated"), last = exit_code_of(cs, "lastState.terminated");
		if (code > 0 || (code < 0 && !vs_json_path(cs, "state.running") && last > 0))
			failed_init++;
		else if (code < 0 && (vs_json_path(cs, "state.running") || last < 0))
			pending_init++;
	}
	json_array_foreach(statuses, i, cs) {
		long code = exit_code_of(cs, "state.terminated");
		if (vs_json_path(cs, "state.running")) {
			running++;
		} else if (code >= 0) {
			stopped++;
			succeeded += code == 0;
		} else if (exit_code_of(cs, "lastState.terminated") >= 0) {
			stopped++;
		} else {
			waiting++;
		}
	}
	if (failed_init > 0 && strcmp(restart_policy, "Never") == 0)
		return "Failed";
	if (pending_init > 0 || waiting > 0)
		return "Pending";
	if (running > 0)
		return "Running";
	if (stopped == 0)
		return "Pending";
	if (strcmp(restart_policy, "Always") == 0)
		return "Running"; /* every container is restarting */
	if (stopped == succeeded)
		return "Succeeded";
	return strcmp(restart_policy, "Never") == 0 ? "Failed" : "Running";
}

static bool phase_terminal(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* A pod condition the kubelet owns: its status, and its reason and message when it has them. */
struct cond {
	const char *type, *status, *reason;
	char *message; /* owned, or NULL */
};

/* The pod conditions, each keeping its lastTransitionTime while its status stays (new reference). */
static json_t *pod_conditions(const json_t *old, const struct cond *want, size_t n, const char *now)
{
	json_t *conds = json_array();
	for (size_t k = 0; k < n; k++) {
		const char *ltt = now;
		size_t i;
		json_t *oc;
		json_array_foreach(old, i, oc) {
			const char *t = vs_json_str(oc, "type"), *s = vs_json_str(oc, "status");
			if (t && s && strcmp(t, want[k].type) == 0 && strcmp(s, want[k].status) == 0 &&
			    vs_json_str(oc, "lastTransitionTime"))
				ltt = vs_json_str(oc, "lastTransitionTime");
		}
		json_t *cnd = json_pack("{s:s, s:s, s:s}", "type", want[k].type, "status", want[k].status,
					"lastTransitionTime", ltt);
		if (want[k].reason)
			json_object_set_new(cnd, "reason", json_string(want[k].reason));
		if (want[k].message)
			json_object_set_new(cnd, "message", json_string(want[k].message));
		json_array_append_new(conds, cnd);
	}
	return conds;
}

/* status.GeneratePodInitializedCondition: true once every init container has succeeded. */
static struct cond initialized_condition(const json_t *init_statuses, const char *phase)
{
	struct cond cnd = {"Initialized", "True", NULL, NULL};
	vs_buf names;
	size_t i;
	json_t *cs;
	if (strcmp(phase, "Succeeded") == 0) {
		cnd.reason = "PodCompleted";
		return cnd;
	}
	vs_buf_init(&names, 0);
	json_array_foreach(init_statuses, i, cs)
		if (!vs_json_bool(cs, "ready", false))
			vs_buf_printf(&names, "%s%s", names.len ? " " : "", vs_json_str(cs, "name") ?: "");
	if (names.len) {
		cnd.status = "False";
		cnd.reason = "ContainersNotInitialized";
		cnd.message = vs_xasprintf("containers with incomplete status: [%s]", names.data);
	}
	vs_buf_free(&names);
	return cnd;
}

/* The container has ever run as the pod cache has it (its status is not waiting, or has a last state). */
static bool ever_started(const struct worker *w, const json_t *ctr)
{
	const struct proc *p = ctr_find(w, vs_json_str(ctr, "name") ?: "");
	return seen_of(w, ctr) || (p && p->seen.last_term);
}

/* The status manager's hasPodInitialized: a main container ran, or the last init container succeeded. */
static bool pod_initialized(const struct worker *w, const json_t *pod)
{
	const json_t *inits = vs_json_path(pod, "spec.initContainers"), *ctr;
	size_t i;
	if (json_array_size(inits) == 0)
		return true;
	json_array_foreach(vs_json_path(pod, "spec.containers"), i, ctr)
		if (ever_started(w, ctr))
			return true;
	const struct seen *s = seen_of(w, json_array_get(inits, json_array_size(inits) - 1));
	return s && s->exited && s->exit_code == 0;
}

/* TerminatePod marks as lost the init containers up to the last that ever started (at least the
 * first): the number of them. */
static size_t init_lost_prefix(const struct worker *w, const json_t *inits)
{
	size_t n = json_array_size(inits);
	for (size_t i = n; i-- > 0;)
		if (ever_started(w, json_array_get(inits, i)))
			return i + 1;
	return n > 0;
}

/* The statuses of one list of containers (spec.containers or spec.initContainers; new reference). */
static json_t *container_statuses(const struct worker *w, const json_t *pod, const json_t *ctrs, struct ctr_view v,
				  size_t lost)
{
	json_t *out = json_array(), *ctr;
	size_t i;
	json_array_foreach(ctrs, i, ctr) {
		const struct proc *p = ctr_find(w, vs_json_str(ctr, "name") ?: "");
		v.lost = v.final && i < lost;
		json_array_append_new(out, container_status(pod, ctr, p, &v));
	}
	return out;
}

/* generateAPIPodStatus: the pod's status from the pod cache, over its stored status; final:
 * TerminatePod's, where every container has ended (new reference). */
static json_t *generate_status(const struct worker *w, const json_t *pod, bool final)
{
	const json_t *inits = vs_json_path(pod, "spec.initContainers"), *ctrs = vs_json_path(pod, "spec.containers");
	struct ctr_view view = {.has_init = json_array_size(inits) > 0, .final = final};
	json_t *statuses = container_statuses(w, pod, ctrs, view, pod_initialized(w, pod) ? json_array_size(ctrs) : 0);
	view.init = true;
	json_t *init_statuses = container_statuses(w, pod, inits, view, init_lost_prefix(w, inits));
	const json_t *stored = json_object_get(pod, "status");
	const char *phase = pod_phase(restart_policy(pod), init_statuses, statuses);
	if (phase_terminal(vs_json_str(stored, "phase")))
		phase = vs_json_str(stored, "phase"); /* a terminal phase never changes back */
	size_t running = 0, i;
	json_t *cs;
	json_array_foreach(statuses, i, cs) running += vs_json_path(cs, "state.running") != NULL;
	bool ready = !final && running > 0 && running == json_array_size(statuses) && strcmp(phase, "Running") == 0;
	const char *ready_s = ready ? "True" : "False";
	const char *not_ready = ready ? NULL : strcmp(phase, "Succeeded") == 0 ? "PodCompleted" : "ContainersNotReady";
	struct cond want[] = {initialized_condition(init_statuses, phase),
			      {"Ready", ready_s, not_ready, NULL},
			      {"ContainersReady", ready_s, not_ready, NULL},
			      {"PodScheduled", "True", NULL, NULL}};
	char now[32];
	vs_time_format(vs_time_now(), now);
	json_t *next = json_is_object(stored) ? json_deep_copy(stored) : json_object();
	json_object_set_new(next, "conditions", pod_conditions(json_object_get(stored, "conditions"), want, 4, now));
	free(want[0].message);
	json_object_set_new(next, "phase", json_string(phase));
	if (view.has_init)
		json_object_set_new(next, "initContainerStatuses", init_statuses);
	else
		json_decref(init_statuses);
	json_object_set_new(next, "containerStatuses", statuses);
	json_object_set_new(next, "hostIP", json_string("127.0.0.1"));
	json_object_set_new(next, "podIP", json_string("127.0.0.1"));
	json_object_set_new(next, "podIPs", json_pack("[{s:s}]", "ip", "127.0.0.1"));
	if (!vs_json_str(stored, "startTime"))
		json_object_set_new(next, "startTime", json_string(now));
	if (!vs_json_str(stored, "qosClass"))
		json_object_set_new(next, "qosClass", json_string("BestEffort"));
	return next;
}

/* The status manager: writes the generated status to the pod object (again on a conflict, as its
 * patch would not conflict). phase gets the phase written, "" when the pod is gone. */
static void put_status(sim_cluster *c, const struct worker *w, bool final, char phase[16])
{
	phase[0] = '\0';
	for (int attempt = 0; attempt < 5; attempt++) {
		json_t *pod = cl_get(c, cl_res_pod, w->ns, w->name);
		if (!pod || !cl_uid(pod) || strcmp(cl_uid(pod), w->uid) != 0) {
			json_decref(pod);
			return;
		}
		json_t *next = generate_status(w, pod, final);
		snprintf(phase, 16, "%s", vs_json_str(next, "phase") ?: "");
		int rc = cl_update_status(c, cl_res_pod, pod, next);
		json_decref(next);
		json_decref(pod);
		if (rc == 0)
			return;
	}
}

/* ---- the volume manager ----------------------------------------------------------------------- */

/* The populator adds the pod's volumes at its first run after the kubelet saw the pod; the
 * reconciler sets them up at its run after that, and again at each run while one cannot be. */
static void volumes_progress(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	if (w->mounted_at || w->stage != STAGE_SYNC || now < w->seen_at || !pod)
		return;
	int64_t period = c->timing.volume_loop_ms;
	if (!w->mount_try_at) {
		int64_t added = next_tick(w->kl->populator_epoch, period, w->seen_at);
		w->mount_try_at = next_tick(w->kl->reconciler_epoch, period, added + 1);
	}
	if (now < w->mount_try_at)
		return;
	char *dir = pod_dir(c, w->ns, w->name, w->uid), *why = NULL;
	json_t *paths = json_object();
	vs_error err;
	vs_error_clear(&err);
	vs_mkdir_p(dir, 0755, NULL);
	int rc = resolve_volumes(c, pod, dir, paths, &why, &err);
	if (rc == 0) {
		json_decref(w->paths);
		w->paths = json_incref(paths);
		w->mounted_at = w->mount_try_at;
	} else {
		cl_event_once(c, pod, "Warning", "FailedMount", "MountVolume.SetUp failed: %s", rc < 0 ? err.message : why);
		w->mount_try_at = next_tick(w->kl->reconciler_epoch, period, now + 1);
	}
	json_decref(paths);
	free(why);
	free(dir);
}

/* Once the containers are gone, the populator drops the volumes at its next run and the
 * reconciler unmounts them at its run after that. */
static void volumes_unmount(sim_cluster *c, struct worker *w, int64_t now)
{
	int64_t period = c->timing.volume_loop_ms;
	if (!w->has_volumes || !w->mounted_at)
		return;
	int64_t dropped = next_tick(w->kl->populator_epoch, period, now);
	w->unmounted_at = next_tick(w->kl->reconciler_epoch, period, dropped + 1);
}

/* ---- the pod worker --------------------------------------------------------------------------- */

/* The status manager deletes the object of a terminated pod that is being deleted. */
static void delete_object(sim_cluster *c, struct worker *w)
{
	vs_error err;
	vs_error_clear(&err);
	sim_delete_opts opts = {.propagation = SIM_PROPAGATE_BACKGROUND, .precondition_uid = w->uid, .grace_period_seconds = 0};
	bool deleted = false;
	w->delete_sent = true;
	if (sim_api_delete(c->st, cl_res_pod, w->ns, w->name, &opts, NULL, &deleted, &err) != 0 &&
	    !vs_error_is(&err, "NotFound") && !vs_error_is(&err, "Conflict"))
		vs_warn("node: delete pod %s/%s: %s", w->ns, w->name, err.message);
}

/* syncPod; the containers start once the volumes are mounted (WAIT_MOUNT). */
static void sync_pod(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	char phase[16];
	put_status(c, w, false, phase);
	if (phase_terminal(phase)) { /* isTerminal: on to terminating */
		w->stage = STAGE_TERMINATING;
		w->queued = true;
		w->last_sync = vs_time_mono_ms();
		return;
	}
	if (!w->mounted_at) { /* WaitForAttachAndMount: its first check failed */
		w->wait = WAIT_MOUNT;
		w->wait_until = now + c->timing.mount_poll_ms;
		return;
	}
	start_containers(c, w, pod, now);
	w->last_sync = vs_time_mono_ms();
}

/* The end of syncTerminatingPod: no container runs; the worker moves on to terminated. */
static void terminating_done(sim_cluster *c, struct worker *w)
{
	int64_t now = vs_time_mono_ms();
	w->wait = WAIT_NONE;
	w->stage = STAGE_TERMINATED;
	w->queued = true;
	w->last_sync = now;
	volumes_unmount(c, w, now);
}

/* syncTerminatingPod: the containers are stopped (WAIT_KILL until they are gone). */
static void sync_terminating(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	char phase[16];
	put_status(c, w, false, phase);
	if (!worker_running(w)) {
		terminating_done(c, w);
		return;
	}
	long grace = w->del_seen_at ? w->grace_s : (long)vs_json_int(pod, "spec.terminationGracePeriodSeconds", DEFAULT_GRACE_S);
	if (grace < MIN_GRACE_S)
		grace = MIN_GRACE_S;
	for (struct proc *p = w->ctrs; p; p = p->next)
		if (p->pid > 0)
			sim_api_event(c->st, pod, "Normal", "Killing", "Stopping container %s", p->container);
	vs_info("node: stopping pod %s/%s (SIGTERM, grace period %lds)", w->ns, w->name, grace);
	signal_worker(w, SIGTERM);
	w->wait = WAIT_KILL;
	w->wait_until = now + grace * 1000;
	w->kill_sent = false;
}

/* The end of syncTerminatedPod: TerminatePod's final status; a pod being deleted goes. */
static void terminated_done(sim_cluster *c, struct worker *w, int64_t now)
{
	char phase[16];
	w->wait = WAIT_NONE;
	w->stage = STAGE_FINISHED;
	w->last_sync = vs_time_mono_ms();
	put_status(c, w, true, phase);
	if (w->del_seen_at && now >= w->del_seen_at)
		delete_object(c, w);
}

/* A sync blocked on something: true once it is over (the worker may take its next work). */
static bool wait_over(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	switch (w->wait) {
	case WAIT_NONE:
		return true;
	case WAIT_MOUNT:
		/* WaitForAttachAndMount's polls; a deletion meanwhile ends it at its next poll */
		for (; now >= w->wait_until; w->wait_until += c->timing.mount_poll_ms) {
			if (w->stage == STAGE_SYNC && !(w->mounted_at && w->mounted_at <= w->wait_until))
				continue;
			w->wait = WAIT_NONE;
			if (w->stage == STAGE_SYNC)
				start_containers(c, w, pod, now);
			w->last_sync = vs_time_mono_ms();
			return true;
		}
		return false;
	case WAIT_KILL:
		if (!worker_running(w)) {
			terminating_done(c, w);
			return true;
		}
		if (!w->kill_sent && now >= w->wait_until) {
			vs_info("node: pod %s/%s outlived its grace period (SIGKILL)", w->ns, w->name);
			signal_worker(w, SIGKILL);
			w->kill_sent = true;
		}
		return false;
	case WAIT_UNMOUNT:
		/* WaitForUnmount's polls */
		for (; now >= w->wait_until; w->wait_until += c->timing.mount_poll_ms)
			if (w->unmounted_at <= w->wait_until) {
				terminated_done(c, w, now);
				return true;
			}
		return false;
	}
	return true;
}

/* One look at a pod worker: its wait, then its queued work once the pod cache is newer. */
static void worker_step(sim_cluster *c, struct worker *w, const json_t *pod, int64_t now)
{
	char phase[16];
	if (!pod || now < w->seen_at)
		return; /* a pod that is gone is sweep_workers' */
	if (w->del_seen_at && now >= w->del_seen_at) {
		if (w->stage == STAGE_SYNC) { /* UpdatePod(SyncPodKill) */
			w->stage = STAGE_TERMINATING;
			w->queued = true;
		} else if (w->stage == STAGE_FINISHED && !w->delete_sent) {
			delete_object(c, w);
		}
	}
	if (!wait_over(c, w, pod, now))
		return;
	if (w->retry_at && now >= w->retry_at) {
		w->retry_at = 0;
		w->queued = true;
	}
	if (!w->queued || w->stage == STAGE_FINISHED)
		return;
	/* podCache.GetNewerThan(uid, lastSyncTime): a relist that began after the last sync ended */
	if (w->last_sync && w->kl->relisted <= w->last_sync)
		return;
	w->queued = false;
	switch (w->stage) {
	case STAGE_SYNC:
		sync_pod(c, w, pod, now);
		break;
	case STAGE_TERMINATING:
		sync_terminating(c, w, pod, now);
		break;
	case STAGE_TERMINATED:
		/* syncTerminatedPod: the status the relist saw, then WaitForUnmount (its first check now) */
		put_status(c, w, false, phase);
		w->wait = WAIT_UNMOUNT;
		w->wait_until = now;
		wait_over(c, w, pod, now);
		break;
	case STAGE_FINISHED:
		break;
	}
}

/* ---- the agent -------------------------------------------------------------------------------- */

static struct kubelet *kubelet_for(sim_cluster *c, const char *node)
{
	struct sim_node_agent *a = c->agent;
	for (struct kubelet *kl = a->kubelets; kl; kl = kl->next)
		if (strcmp(kl->node, node) == 0)
			return kl;
	struct kubelet *kl = vs_xcalloc(1, sizeof *kl);
	int64_t now = vs_time_mono_ms(), vol = c->timing.volume_loop_ms;
	kl->node = vs_xstrdup(node);
	kl->pleg_epoch = now + cl_random_ms(c, 0, c->timing.pleg_relist_ms - 1);
	kl->relist_at = kl->pleg_epoch;
	kl->populator_epoch = now + cl_random_ms(c, 0, vol - 1);
	kl->reconciler_epoch = now + cl_random_ms(c, 0, vol - 1);
	vs_debug("node: %s relists every %lld ms from +%lld ms", node, (long long)c->timing.pleg_relist_ms,
		 (long long)(kl->pleg_epoch - now));
	pthread_mutex_lock(&a->mu);
	kl->next = a->kubelets;
	a->kubelets = kl;
	pthread_mutex_unlock(&a->mu);
	return kl;
}

static struct worker *worker_find(const struct sim_node_agent *a, const char *uid)
{
	for (struct worker *w = a->workers; w; w = w->next)
		if (strcmp(w->uid, uid) == 0)
			return w;
	return NULL;
}

/* The kubelet's pod watch: a new pod, and a deletion, arrive an informer delay after the change. */
static void watch_pods(sim_cluster *c, int64_t now)
{
	struct sim_node_agent *a = c->agent;
	size_t i;
	json_t *pod;
	json_array_foreach(a->pods, i, pod) {
		const char *uid = cl_uid(pod), *node = vs_json_str(pod, "spec.nodeName");
		if (!uid || !node || !*node || strlen(uid) >= UID_MAX)
			continue;
		struct worker *w = worker_find(a, uid);
		if (!w) {
			w = vs_xcalloc(1, sizeof *w);
			snprintf(w->uid, sizeof w->uid, "%s", uid);
			w->ns = vs_xstrdup(cl_ns(pod));
			w->name = vs_xstrdup(cl_name(pod));
			w->kl = kubelet_for(c, node);
			w->seen_at = now + cl_informer_delay_ms(c);
			w->queued = true;
			w->has_volumes = json_array_size(vs_json_path(pod, "spec.volumes")) > 0;
			if (!w->has_volumes) /* WaitForAttachAndMount returns at once */
				w->mounted_at = w->seen_at;
			if (phase_terminal(vs_json_str(pod, "status.phase")))
				w->stage = STAGE_FINISHED;
			w->next = a->workers;
			a->workers = w;
		}
		if (cl_deleting(pod) && !w->del_seen_at) {
			w->del_seen_at = now + cl_informer_delay_ms(c);
			w->grace_s = (long)vs_json_int(pod, "metadata.deletionGracePeriodSeconds", DEFAULT_GRACE_S);
		}
	}
}

/* A new list of pods when the store changed; true when it did. */
static bool refresh_pods(sim_cluster *c)
{
	struct sim_node_agent *a = c->agent;
	uint64_t rv = sim_store_rv(c->st);
	if (a->pods && rv == a->pods_rv)
		return false;
	json_decref(a->pods);
	json_decref(a->by_uid);
	a->pods_rv = rv;
	a->pods = cl_list_reuse(c, cl_res_pod, &a->lists);
	a->by_uid = json_object();
	size_t i;
	json_t *pod;
	json_array_foreach(a->pods, i, pod)
		if (cl_uid(pod))
			json_object_set(a->by_uid, cl_uid(pod), pod);
	return true;
}

/* Pod directories of pods that are gone and have no worker left. */
static void sweep_dirs(sim_cluster *c)
{
	char *root = vs_xasprintf("%s/pods", c->data_dir);
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *us = strrchr(e->d_name, '_');
		if (e->d_name[0] == '.' || !us || json_object_get(c->agent->by_uid, us + 1) || worker_find(c->agent, us + 1))
			continue;
		char *path = vs_xasprintf("%s/%s", root, e->d_name);
		vs_rm_rf(path, NULL);
		free(path);
	}
	if (d)
		closedir(d);
	free(root);
}

/* Workers of pods whose object is gone without the kubelet's own deletion (a forced deletion):
 * their processes are killed at once, and the worker goes with the last of them. True when one
 * went. */
static bool sweep_workers(sim_cluster *c)
{
	bool freed = false;
	struct worker **wp = &c->agent->workers;
	while (*wp) {
		struct worker *w = *wp;
		if (json_object_get(c->agent->by_uid, w->uid)) {
			wp = &w->next;
			continue;
		}
		if (worker_running(w)) {
			if (!w->kill_sent)
				signal_worker(w, SIGKILL);
			w->kill_sent = true;
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		worker_free(w);
		freed = true;
	}
	return freed;
}

static void node_reconcile(sim_cluster *c)
{
	struct sim_node_agent *a = c->agent;
	int64_t now = vs_time_mono_ms();
	reap(c);
	bool changed = refresh_pods(c);
	if (changed)
		watch_pods(c, now);
	for (struct kubelet *kl = a->kubelets; kl; kl = kl->next)
		if (now >= kl->relist_at)
			relist(c, kl, now);
	for (struct worker *w = a->workers; w; w = w->next) {
		const json_t *pod = json_object_get(a->by_uid, w->uid);
		volumes_progress(c, w, pod, now);
		worker_step(c, w, pod, now);
	}
	if (sweep_workers(c) || changed)
		sweep_dirs(c);
}

/* Stop every pod process: SIGTERM, up to 2 s, SIGKILL. Runs in the node thread (bwrap's
 * --die-with-parent is tied to the thread that forked it) or after it, when it never started. */
static void stop_all(sim_cluster *c)
{
	if (!c->agent)
		return;
	bool any = false;
	for (struct worker *w = c->agent->workers; w; w = w->next) {
		any |= worker_running(w);
		signal_worker(w, SIGTERM);
	}
	int64_t deadline = vs_time_mono_ms() + 2000;
	while (any && vs_time_mono_ms() < deadline) {
		reap(c);
		any = false;
		for (struct worker *w = c->agent->workers; w; w = w->next)
			any |= worker_running(w);
		if (any)
			vs_sleep_ms(50);
	}
	for (struct worker *w = c->agent->workers; w; w = w->next)
		for (struct proc *p = w->ctrs; p; p = p->next)
			if (p->pid > 0) {
				kill(-p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				p->pid = 0;
			}
}

int sim_node_start(sim_cluster *c, vs_error *err)
{
	c->agent = vs_xcalloc(1, sizeof *c->agent);
	pthread_mutex_init(&c->agent->mu, NULL);
	/* the nodes there are now get their clocks before any thread draws from the generator */
	json_t *nodes = cl_list(c, cl_res_node, NULL, NULL);
	size_t i;
	json_t *node;
	json_array_foreach(nodes, i, node)
		if (cl_name(node))
			kubelet_for(c, cl_name(node));
	json_decref(nodes);
	return cl_spawn(c, "node", node_reconcile, stop_all, NODE_TICK_MS, err);
}

void sim_node_stop(sim_cluster *c)
{
	struct sim_node_agent *a = c->agent;
	if (!a)
		return;
	stop_all(c);
	while (a->workers) {
		struct worker *w = a->workers;
		a->workers = w->next;
		worker_free(w);
	}
	while (a->kubelets) {
		struct kubelet *kl = a->kubelets;
		a->kubelets = kl->next;
		free(kl->node);
		free(kl);
	}
	json_decref(a->pods);
	json_decref(a->by_uid);
	json_decref(a->lists);
	pthread_mutex_destroy(&a->mu);
	free(a);
	c->agent = NULL;
}

int64_t sim_cluster_pleg_epoch_ms(sim_cluster *c, const char *node)
{
	int64_t epoch = -1;
	if (!c || !c->agent || !node)
		return -1;
	pthread_mutex_lock(&c->agent->mu);
	for (struct kubelet *kl = c->agent->kubelets; kl; kl = kl->next)
		if (strcmp(kl->node, node) == 0)
			epoch = kl->pleg_epoch;
	pthread_mutex_unlock(&c->agent->mu);
	return epoch;
}
