/*
 * The access-mode probes' objects, and who may remove them.
 *
 * A probe (preflight.c) is a claim of the destination class and a pod that mounts it, both named
 * volshift-probe-XXXXXXXX. A volshift killed while it probes leaves them behind, with the volume
 * the claim provisioned. A later volshift must tell such leftovers from the probe of a volshift
 * that runs right now (two may run at once, on different claims, or start at the same moment),
 * without trusting that two machines' clocks agree.
 *
 * The rule. Every probe has a Lease (coordination.k8s.io/v1) of its name in its namespace,
 * created before its claim and deleted only once its last object is gone: a labelled probe object
 * without a Lease is a leftover (objects are listed before Leases, so that a probe made between
 * the two lists cannot look like one). The Lease names its holder, a volshift process: by a random
 * id (spec.holderIdentity, and the probe-owner label of the claim and pod), by host and pid for
 * people, and by its process identity (vs_process_id: boot id, PID namespace, pid, start time).
 * The holder renews it every PROBE_RENEW_MS while the probe exists, each time conditionally on the
 * resourceVersion it last wrote. Another volshift judges the holder
 *   - on the same boot and in the same PID namespace: by whether that process still runs, at once
 *     and with no clock involved (a reused pid is told apart by its start time);
 *   - anywhere else: by watching the Lease. Changed within its spec.leaseDurationSeconds, as this
 *     process's own monotonic clock measures from the moment it read the Lease, the holder lives;
 *     unchanged that long, it is gone. As client-go's leader election does (its observedTime), no
 *     time written by another machine is compared with this machine's clock, so the skew between
 *     them does not matter, only their rates, which differ by parts per million. renewTime is
 *     written for people.
 * A volshift that judges a holder gone takes the Lease over before it removes anything, with an
 * update conditional on the resourceVersion it judged: if the holder renewed meanwhile, the update
 * fails and nothing is removed. If the holder was alive but could not renew for a whole lease
 * duration (an API server down that long), its own next renewal fails instead and mig_probe_check
 * tells it: its probe's verdict is thrown away and the probe runs again, so a probe removed under
 * it is never reported as the destination's failure. The remover holds the Lease, renewed, until
 * the probe's objects are gone, then deletes it; if it dies half-way, the next volshift judges it
 * in turn. Removal is idempotent, and each object is deleted only when its labels name the probe.
 */
#include "migrate_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LEASE_SECONDS	 30
#define PROBE_RENEW_MS		 5000
#define PROBE_LEASE_MAX_SECONDS	 300			     /* a Lease that asks for longer is judged after this */
#define PROBE_HOLDER_ANNOTATION	 "volshift.io/probe-holder"  /* "volshift pid N on HOST", for people */
#define PROBE_PROCESS_ANNOTATION "volshift.io/probe-process" /* the holder's vs_process_id */

struct mig_probe {
	vs_kube_client *c;
	char *ns, *name;
	json_t *lease;	    /* as this process last wrote it (owned); NULL: none held */
	pthread_mutex_t mu; /* lease, lost, stop */
	pthread_cond_t cv;  /* the renewer's sleep, on the monotonic clock */
	pthread_t renewer;
	bool renewing, stop;
	bool lost;     /* another volshift took the Lease over, or removed it */
	char *lost_to; /* who holds it now, for the message */
};

/* ---- this process as a holder ------------------------------------------------------------------ */

static char probe_owner_id[17];
static char probe_holder_text[320];
static pthread_once_t probe_self_once = PTHREAD_ONCE_INIT;

static void probe_self_init(void)
{
	char host[256] = "unknown";

	gethostname(host, sizeof(host) - 1);
	snprintf(probe_owner_id, sizeof(probe_owner_id), "%016" PRIx64, vs_rand_u64());
	snprintf(probe_holder_text, sizeof(probe_holder_text), "volshift pid %d on %s", (int)getpid(), host);
}

/* This process's holder id: a label value, unique per process. Static. */
static const char *probe_owner(void)
{
	pthread_once(&probe_self_once, probe_self_init);
	return probe_owner_id;
}

static const char *probe_holder(void)
{
	pthread_once(&probe_self_once, probe_self_init);
	return probe_holder_text;
}

/* ---- the Lease ----------------------------------------------------------------------------------- */

/* held (borrowed; NULL: a new Lease ns/name) as this process holds it now, renewed; acquire: taken
 * now (a new holder). Keeps held's resourceVersion, which makes the update conditional. Caller owns. */
static json_t *probe_lease_body(const char *ns, const char *name, const json_t *held, bool acquire)
{
	json_t *lease = held ? json_deep_copy(held)
			     : json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
					 "Lease", "metadata", "name", name, "namespace", ns);
	json_t *meta = json_object_get(lease, "metadata"), *spec = json_object_get(lease, "spec");
	char now[40];

	if (!json_is_object(spec))
		json_object_set_new(lease, "spec", spec = json_object());
	vs_time_format_micro(now);
	json_object_set_new(
		meta, "labels",
		mig_labels(VS_MIGRATE_PROBE_LABEL, name, VS_MIGRATE_PROBE_OWNER_LABEL, probe_owner(), NULL));
	json_object_set_new(meta, "annotations",
			    json_pack("{s:s, s:s}", PROBE_HOLDER_ANNOTATION, probe_holder(), PROBE_PROCESS_ANNOTATION,
				      vs_process_self()));
	json_object_set_new(spec, "holderIdentity", json_string(probe_owner()));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(PROBE_LEASE_SECONDS));
	json_object_set_new(spec, "renewTime", json_string(now));
	if (acquire) {
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(spec, "leaseTransitions",
				    json_integer(held ? vs_json_int(spec, "leaseTransitions", 0) + 1 : 0));
	}
	return lease;
}

static bool probe_lease_ours(const json_t *lease)
{
	return strcmp(vs_json_str_or(lease, "spec.holderIdentity", ""), probe_owner()) == 0;
}

/* Who holds lease (may be NULL), in words. Borrowed. */
static const char *probe_lease_holder(const json_t *lease)
{
	const char *holder = vs_json_annotation(lease, PROBE_HOLDER_ANNOTATION);

	return holder ? holder : vs_json_str_or(lease, "spec.holderIdentity", "?");
}

static mig_probe *probe_new(vs_kube_client *c, const char *ns, const char *name)
{
	mig_probe *p = vs_xcalloc(1, sizeof(*p));
	pthread_condattr_t attr;

	p->c = c;
	p->ns = vs_xstrdup(ns);
	p->name = vs_xstrdup(name);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &attr);
	pthread_condattr_destroy(&attr);
	return p;
}

/* Under p->mu: the error of a probe whose Lease another volshift took. */
static int probe_lost_error(const mig_probe *p, vs_error *err)
{
	return vs_error_set_api(
		err, 409, "Conflict",
		"access-mode probe %s/%s was taken over by %s (a volshift takes over a probe whose Lease "
		"it saw unrenewed for %d s): its result does not count",
		p->ns, p->name, p->lost_to, PROBE_LEASE_SECONDS);
}

/* Under p->mu: p lost its Lease to whoever holds fresh (borrowed; NULL: it was deleted). */
static int probe_lost_locked(mig_probe *p, const json_t *fresh, vs_error *err)
{
	p->lost = true;
	p->lost_to = vs_xstrdup(fresh ? probe_lease_holder(fresh) : "nobody (its Lease was deleted)");
	return probe_lost_error(p, err);
}

/* Under p->mu: write body (stolen) as p's Lease, conditional on the resourceVersion in it. A
 * Conflict whose fresh Lease is still this process's (an earlier write's answer was lost) is
 * written again on top of it; any other holder, or no Lease, means p lost it. */
static int probe_lease_write_locked(mig_probe *p, json_t *body, bool acquire, vs_error *err)
{
	json_t *out = NULL, *fresh = NULL;
	int rc = vs_kube_update(p->c, &VS_KUBE_LEASES, p->ns, body, &out, err);

	if (rc < 0 && vs_error_is(err, "Conflict") &&
	    vs_kube_get(p->c, &VS_KUBE_LEASES, p->ns, p->name, &fresh, err) == 0 && probe_lease_ours(fresh)) {
		json_decref(body);
		body = probe_lease_body(p->ns, p->name, fresh, acquire);
		rc = vs_kube_update(p->c, &VS_KUBE_LEASES, p->ns, body, &out, err);
	}
	if (rc == 0) {
		json_decref(p->lease);
		p->lease = out;
	} else if (vs_error_is(err, "Conflict") || vs_error_is(err, "NotFound")) {
		rc = probe_lost_locked(p, fresh, err);
	}
	json_decref(fresh);
	json_decref(body);
	return rc;
}

static void *probe_renew(void *arg)
{
	mig_probe *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop && !p->lost) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += PROBE_RENEW_MS / 1000;
		pthread_cond_timedwait(&p->cv, &p->mu, &until);
		if (p->stop || p->lost)
			break;
		vs_error err;
		vs_error_clear(&err);
		if (probe_lease_write_locked(p, probe_lease_body(p->ns, p->name, p->lease, false), false, &err) < 0)
			vs_warn("renewing the Lease of access-mode probe %s/%s: %s", p->ns, p->name, err.message);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void probe_start_renewing(mig_probe *p)
{
	p->renewing = pthread_create(&p->renewer, NULL, probe_renew, p) == 0;
}

static void probe_stop_renewing(mig_probe *p)
{
	if (!p->renewing)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->renewer, NULL);
	p->renewing = false;
}

static void probe_free(mig_probe *p)
{
	probe_stop_renewing(p);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	json_decref(p->lease);
	free(p->ns), free(p->name), free(p->lost_to);
	free(p);
}

int mig_probe_begin(mig_run *r, const char *ns, mig_probe **out, vs_error *err)
{
	char name[40];
	json_t *body;
	mig_probe *p;
	int rc;

	snprintf(name, sizeof(name), VS_MIGRATE_PROBE_PREFIX "%08" PRIx64, vs_rand_u64() & 0xffffffffu);
	p = probe_new(r->c, ns, name);
	body = probe_lease_body(ns, name, NULL, true);
	rc = vs_kube_create(r->c, &VS_KUBE_LEASES, ns, body, &p->lease, err);
	json_decref(body);
	if (rc < 0) {
		probe_free(p);
		*out = NULL;
		return vs_error_wrap(err, "create Lease %s/%s of an access-mode probe", ns, name);
	}
	probe_start_renewing(p);
	*out = p;
	return 0;
}

/* Take over the Lease of a probe whose holder was judged gone, as lease (borrowed) showed it: an
 * update conditional on that resourceVersion. VS_EAPI Conflict when it changed meanwhile (its holder
 * lives, or another volshift took it first), NotFound when it went (its holder finished). *out owned
 * by the caller (mig_probe_end). */
static int probe_take_over(mig_run *r, const json_t *lease, mig_probe **out, vs_error *err)
{
	mig_probe *p = probe_new(r->c, vs_kube_obj_namespace(lease), vs_kube_obj_name(lease));
	int rc;

	pthread_mutex_lock(&p->mu);
	rc = probe_lease_write_locked(p, probe_lease_body(p->ns, p->name, lease, true), true, err);
	pthread_mutex_unlock(&p->mu);
	*out = NULL;
	if (rc < 0) {
		probe_free(p);
		return rc;
	}
	probe_start_renewing(p);
	*out = p;
	return 0;
}

const char *mig_probe_name(const mig_probe *p)
{
	return p->name;
}

json_t *mig_probe_labels(const mig_probe *p)
{
	return mig_labels(VS_MIGRATE_PROBE_LABEL, p->name, VS_MIGRATE_PROBE_OWNER_LABEL, probe_owner(), NULL);
}

int mig_probe_check(mig_probe *p, vs_error *err)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	if (p->lost)
		rc = probe_lost_error(p, err);
	else
		rc = probe_lease_write_locked(p, probe_lease_body(p->ns, p->name, p->lease, false), false, err);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* ---- removing a probe's objects ----------------------------------------------------------------- */

/* True when volume pv is probe ns/name's: labelled so (once its claim was seen bound to it), or
 * bound to the probe's claim of uid claim_uid (NULL: unknown). */
static bool probe_volume_of(const json_t *pv, const char *ns, const char *name, const char *claim_uid)
{
	const char *ref_uid = vs_json_str(pv, "spec.claimRef.uid");

	if (mig_has_label(pv, VS_MIGRATE_PROBE_LABEL, name) && mig_has_label(pv, VS_MIGRATE_PROBE_NAMESPACE_LABEL, ns))
		return true;
	return claim_uid && ref_uid && strcmp(ref_uid, claim_uid) == 0;
}

/* The object ns/name of res when its labels make it probe name's, else NULL (a stranger with that
 * name is left alone, and said so). *out owned by the caller. */
static int probe_get_own(mig_run *r, const vs_kube_resource *res, const char *ns, const char *name, json_t **out,
			 vs_error *err)
{
	int rc = mig_get_opt(r, res, ns, name, out, err);

	if (rc == 0 && *out && !mig_has_label(*out, VS_MIGRATE_PROBE_LABEL, name)) {
		mig_say(r, "warning", "%s %s/%s is not labelled %s=%s, so it is not an access-mode probe's: left alone",
			res->plural, ns, name, VS_MIGRATE_PROBE_LABEL, name);
		json_decref(*out);
		*out = NULL;
	}
	return rc < 0 ? vs_error_wrap(err, "%s %s/%s", res->plural, ns, name) : 0;
}

/* Delete obj (borrowed) of res, that very object (uid precondition), without grace, and wait until
 * it is gone. */
static int probe_delete(mig_run *r, const vs_kube_resource *res, const json_t *obj, vs_error *err)
{
	vs_kube_delete_opts o = { .precondition_uid = vs_kube_obj_uid(obj), .has_grace_period = res == &VS_KUBE_PODS };
	const char *ns = vs_kube_obj_namespace(obj), *name = vs_kube_obj_name(obj);
	int rc = mig_delete(r, res, ns, name, &o, NULL, err);

	if (rc == 0)
		rc = mig_wait_gone(r, res, ns, name, r->opts->delete_pv_timeout_ms, err);
	return rc < 0 ? vs_error_wrap(err, "delete %s %s%s%s", res->plural, ns ? ns : "", ns ? "/" : "", name) : 0;
}

/* Label the volume claim (borrowed) is bound to as probe ns/name's, so that it is still known as
 * the probe's once the claim is gone. */
static int probe_mark_volume(mig_run *r, const json_t *claim, vs_error *err)
{
	const char *pv = vs_json_str(claim, "spec.volumeName"), *ns = vs_kube_obj_namespace(claim);
	json_t *vol = NULL, *patch;
	int rc;

	if (!pv)
		return 0;
	rc = mig_get_opt(r, &VS_KUBE_PVS, NULL, pv, &vol, err);
	if (rc == 0 && vol && probe_volume_of(vol, ns, vs_kube_obj_name(claim), vs_kube_obj_uid(claim))) {
		patch = json_pack("{s:{s:o}}", "metadata", "labels",
				  mig_labels(VS_MIGRATE_PROBE_LABEL, vs_kube_obj_name(claim),
					     VS_MIGRATE_PROBE_NAMESPACE_LABEL, ns, NULL));
		rc = vs_kube_patch(r->c, &VS_KUBE_PVS, NULL, pv, VS_KUBE_PATCH_MERGE, patch, NULL, err);
		json_decref(patch);
	}
	json_decref(vol);
	return rc < 0 ? vs_error_wrap(err, "label volume %s of access-mode probe %s/%s", pv, ns,
				      vs_kube_obj_name(claim))
		      : 0;
}

/* The volumes of probe ns/name (its claim's uid claim_uid; NULL: unknown) once its claim is gone:
 * a Delete one is removed by its provisioner, any other is deleted here; both are waited for. */
static int probe_remove_volumes(mig_run *r, const char *ns, const char *name, const char *claim_uid, vs_error *err)
{
	json_t *pvs = NULL, *pv;
	size_t i;
	int rc = vs_kube_list(r->c, &VS_KUBE_PVS, NULL, NULL, &pvs, err);

	json_array_foreach (json_object_get(pvs, "items"), i, pv) {
		if (rc < 0 || !probe_volume_of(pv, ns, name, claim_uid))
			continue;
		if (strcmp(vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", ""), "Delete") == 0)
			rc = mig_wait_gone(r, &VS_KUBE_PVS, NULL, vs_kube_obj_name(pv), r->opts->delete_pv_timeout_ms,
					   err);
		else
			rc = probe_delete(r, &VS_KUBE_PVS, pv, err);
	}
	json_decref(pvs);
	return rc < 0 ? vs_error_wrap(err, "volumes of access-mode probe %s/%s", ns, name) : 0;
}

/* Remove probe ns/name's objects, each only when its labels name the probe: the pod (it holds the
 * claim), the claim (its volume labelled first), then the volume. */
static int probe_remove(mig_run *r, const char *ns, const char *name, vs_error *err)
{
	json_t *pod = NULL, *claim = NULL;
	char *claim_uid = NULL;
	int rc = probe_get_own(r, &VS_KUBE_PODS, ns, name, &pod, err);

	if (rc == 0 && pod)
		rc = probe_delete(r, &VS_KUBE_PODS, pod, err);
	if (rc == 0)
		rc = vs_failpoint("probe:pod-removed", err);
	if (rc == 0)
		rc = probe_get_own(r, &VS_KUBE_PVCS, ns, name, &claim, err);
	if (rc == 0 && claim) {
		claim_uid = vs_xstrdup(vs_kube_obj_uid(claim));
		rc = probe_mark_volume(r, claim, err);
		if (rc == 0)
			rc = probe_delete(r, &VS_KUBE_PVCS, claim, err);
	}
	if (rc == 0)
		rc = vs_failpoint("probe:claim-deleted", err);
	if (rc == 0)
		rc = probe_remove_volumes(r, ns, name, claim_uid, err);
	if (rc == 0)
		rc = vs_failpoint("probe:volume-removed", err);
	json_decref(pod);
	json_decref(claim);
	free(claim_uid);
	return rc;
}

/* Delete p's Lease, the one this process last wrote (a Conflict: another took it meanwhile, and
 * it is theirs now). */
static int probe_release(mig_run *r, mig_probe *p, vs_error *err)
{
	vs_kube_delete_opts o = { .precondition_rv = vs_kube_obj_resource_version(p->lease) };
	int rc = mig_delete(r, &VS_KUBE_LEASES, p->ns, p->name, &o, NULL, err);

	if (rc < 0 && vs_error_is(err, "Conflict")) {
		vs_error_clear(err);
		rc = 0;
	}
	return rc < 0 ? vs_error_wrap(err, "delete Lease %s/%s of an access-mode probe", p->ns, p->name) : 0;
}

static bool probe_lost(mig_probe *p)
{
	bool lost;

	pthread_mutex_lock(&p->mu);
	lost = p->lost;
	pthread_mutex_unlock(&p->mu);
	return lost;
}

int mig_probe_end(mig_run *r, mig_probe *p, vs_error *err)
{
	int rc = 0;

	if (!p)
		return 0;
	if (!probe_lost(p)) /* lost meanwhile: the taker removes the same objects; both may */
		rc = probe_remove(r, p->ns, p->name, err);
	probe_stop_renewing(p);
	if (rc == 0 && !p->lost && p->lease)
		rc = probe_release(r, p, err);
	probe_free(p);
	return rc;
}

/* ---- finding leftovers ----------------------------------------------------------------------- */

/* The entry of probe ns/name in found ("NS/NAME" -> {namespace, name, legacy}), made when missing.
 * Borrowed. */
static json_t *probe_entry(json_t *found, const char *ns, const char *name, bool legacy)
{
	char *key = vs_xasprintf("%s/%s", ns, name);
	json_t *e = json_object_get(found, key);

	if (!e) {
		e = json_pack("{s:s, s:s, s:b, s:[]}", "namespace", ns, "name", name, "legacy", legacy, "volumes");
		json_object_set_new(found, key, e);
	}
	free(key);
	return e;
}

/* Put each probe pod or claim of list (of res) into found: labelled as the probe of its own name,
 * or, legacy, named like one and labelled managed-by volshift without a probe label. */
static void probe_add_objects(json_t *found, const json_t *list, const char *slot)
{
	json_t *obj;
	size_t i;

	json_array_foreach (json_object_get(list, "items"), i, obj) {
		const char *name = vs_kube_obj_name(obj), *ns = vs_kube_obj_namespace(obj);
		bool labelled = mig_has_label(obj, VS_MIGRATE_PROBE_LABEL, name);
		bool legacy = !json_object_get(vs_json_path(obj, "metadata.labels"), VS_MIGRATE_PROBE_LABEL) &&
			      vs_str_has_prefix(name, VS_MIGRATE_PROBE_PREFIX) &&
			      mig_has_label(obj, VS_MIGRATE_MANAGED_BY_LABEL, VS_MIGRATE_MANAGED_BY);
		if (ns && (labelled || legacy))
			json_object_set(probe_entry(found, ns, name, legacy), slot, obj);
	}
}

/* Put each volume of pvs that belongs to an entry of found (by its labels, or bound to its claim)
 * into that entry's volumes. */
static void probe_add_volumes(json_t *found, const json_t *pvs)
{
	json_t *pv, *e;
	const char *key;
	size_t i;

	json_array_foreach (json_object_get(pvs, "items"), i, pv) {
		const char *ns = json_string_value(
			json_object_get(vs_json_path(pv, "metadata.labels"), VS_MIGRATE_PROBE_NAMESPACE_LABEL));
		const char *name =
			json_string_value(json_object_get(vs_json_path(pv, "metadata.labels"), VS_MIGRATE_PROBE_LABEL));
		if (ns && name && vs_str_has_prefix(name, VS_MIGRATE_PROBE_PREFIX))
			probe_entry(found, ns, name, false);
		json_object_foreach (found, key, e) {
			if (probe_volume_of(pv, vs_json_str(e, "namespace"), vs_json_str(e, "name"),
					    vs_kube_obj_uid(json_object_get(e, "claim")))) {
				json_array_append(json_object_get(e, "volumes"), pv);
				break;
			}
		}
	}
}

/* Put each probe Lease of leases into its entry (a Lease alone makes one). */
static void probe_add_leases(json_t *found, const json_t *leases)
{
	json_t *lease;
	size_t i;

	json_array_foreach (json_object_get(leases, "items"), i, lease) {
		const char *name = vs_kube_obj_name(lease);
		if (mig_has_label(lease, VS_MIGRATE_PROBE_LABEL, name) && vs_kube_obj_namespace(lease))
			json_object_set(probe_entry(found, vs_kube_obj_namespace(lease), name, false), "lease", lease);
	}
}

/*
 * Every probe object of the cluster into *found ("NS/NAME" -> {namespace, name, legacy, claim, pod,
 * lease: the objects, volumes: [objects]}; caller owns), and into *listed_ms the monotonic time at
 * which the Leases were read. Objects are listed before Leases: see the rule at the top.
 */
static int probe_find(vs_kube_client *c, json_t **found, int64_t *listed_ms, vs_error *err)
{
	static const vs_kube_list_opts mine = { .label_selector =
							VS_MIGRATE_MANAGED_BY_LABEL "=" VS_MIGRATE_MANAGED_BY };
	static const vs_kube_list_opts probes = { .label_selector = VS_MIGRATE_PROBE_LABEL };
	json_t *pods = NULL, *claims = NULL, *pvs = NULL, *leases = NULL;
	int rc = vs_kube_list(c, &VS_KUBE_PODS, NULL, &mine, &pods, err);

	if (rc == 0)
		rc = vs_kube_list(c, &VS_KUBE_PVCS, NULL, &mine, &claims, err);
	if (rc == 0)
		rc = vs_kube_list(c, &VS_KUBE_PVS, NULL, NULL, &pvs, err);
	if (rc == 0)
		rc = vs_kube_list(c, &VS_KUBE_LEASES, NULL, &probes, &leases, err);
	*listed_ms = vs_time_mono_ms();
	*found = json_object();
	if (rc == 0) {
		probe_add_objects(*found, pods, "pod");
		probe_add_objects(*found, claims, "claim");
		probe_add_leases(*found, leases);
		probe_add_volumes(*found, pvs);
	}
	json_decref(pods);
	json_decref(claims);
	json_decref(pvs);
	json_decref(leases);
	return rc < 0 ? vs_error_wrap(err, "looking for access-mode probes left behind") : 0;
}

/* ---- judging a holder --------------------------------------------------------------------------- */

enum probe_verdict { PROBE_RUNNING, PROBE_GONE, PROBE_UNKNOWN, PROBE_LEGACY };

static const char *const probe_verdict_names[] = { "running", "gone", "unknown", "legacy" };

/* What can be told at once of the holder of entry e, and why (caller frees *why). */
static enum probe_verdict probe_judge(const json_t *e, char **why)
{
	const json_t *lease = json_object_get(e, "lease");
	const char *holder = probe_lease_holder(lease);
	enum vs_process_state st;

	if (vs_json_bool(e, "legacy", false)) {
		*why = vs_xstrdup("made by a volshift older than the probe labels: nothing says whether it still runs");
		return PROBE_LEGACY;
	}
	if (!lease) {
		*why = vs_xstrdup("its Lease is gone, so no volshift holds it");
		return PROBE_GONE;
	}
	st = vs_process_state(vs_json_annotation(lease, PROBE_PROCESS_ANNOTATION));
	if (st != VS_PROCESS_UNKNOWN) {
		*why = vs_xasprintf("%s, which %s on this machine", holder,
				    st == VS_PROCESS_RUNNING ? "still runs" : "has ended");
		return st == VS_PROCESS_RUNNING ? PROBE_RUNNING : PROBE_GONE;
	}
	*why = vs_xasprintf("%s, elsewhere (another machine or container): its Lease was last renewed at %s by that "
			    "machine's clock, and is judged by whether it is renewed within %lld s",
			    holder, vs_json_str_or(lease, "spec.renewTime", "?"),
			    vs_json_int(lease, "spec.leaseDurationSeconds", PROBE_LEASE_SECONDS));
	return PROBE_UNKNOWN;
}

/* The kubectl commands that remove entry e by hand, in order. Caller owns. */
static json_t *probe_commands(const json_t *e)
{
	const char *ns = vs_json_str(e, "namespace"), *name = vs_json_str(e, "name");
	json_t *cmds = json_array(), *pv;
	size_t i;

	if (json_object_get(e, "pod"))
		json_array_append_new(cmds, json_sprintf("kubectl delete pod -n %s %s", ns, name));
	if (json_object_get(e, "claim"))
		json_array_append_new(cmds, json_sprintf("kubectl delete pvc -n %s %s", ns, name));
	json_array_foreach (json_object_get(e, "volumes"), i, pv) {
		if (strcmp(vs_json_str_or(pv, "spec.persistentVolumeReclaimPolicy", ""), "Delete") != 0)
			json_array_append_new(cmds, json_sprintf("kubectl delete pv %s", vs_kube_obj_name(pv)));
	}
	if (json_object_get(e, "lease"))
		json_array_append_new(cmds, json_sprintf("kubectl delete lease -n %s %s", ns, name));
	return cmds;
}

/* Entry e as vs_migrate_probe_leftovers describes it. Caller owns. */
static json_t *probe_describe(const json_t *e)
{
	const json_t *claim = json_object_get(e, "claim"), *pod = json_object_get(e, "pod");
	const json_t *lease = json_object_get(e, "lease"), *pv;
	json_t *volumes = json_array();
	char *why = NULL;
	enum probe_verdict v = probe_judge(e, &why);
	size_t i;

	json_array_foreach (json_object_get(e, "volumes"), i, pv) {
		json_array_append_new(volumes,
				      json_pack("{s:s?, s:s?, s:s?}", "name", vs_kube_obj_name(pv), "reclaimPolicy",
						vs_json_str(pv, "spec.persistentVolumeReclaimPolicy"), "phase",
						vs_json_str(pv, "status.phase")));
	}
	json_t *d = json_pack(
		"{s:O, s:O, s:O, s:o, s:o, s:o, s:o, s:s, s:s, s:o}", "namespace", json_object_get(e, "namespace"),
		"name", json_object_get(e, "name"), "legacy", json_object_get(e, "legacy"), "claim",
		claim ? json_pack("{s:s?, s:s?, s:s?}", "uid", vs_kube_obj_uid(claim), "phase",
				  vs_json_str(claim, "status.phase"), "volume", vs_json_str(claim, "spec.volumeName"))
		      : json_null(),
		"pod", pod ? json_pack("{s:s?}", "phase", vs_json_str(pod, "status.phase")) : json_null(), "volumes",
		volumes, "lease",
		lease ? json_pack("{s:s, s:s?, s:I}", "holder", probe_lease_holder(lease), "renewTime",
				  vs_json_str(lease, "spec.renewTime"), "leaseDurationSeconds",
				  (json_int_t)vs_json_int(lease, "spec.leaseDurationSeconds", 0))
		      : json_null(),
		"holderState", probe_verdict_names[v], "holderReason", why, "remove", probe_commands(e));

	free(why);
	return d;
}

int vs_migrate_probe_leftovers(vs_kube_client *c, json_t **out, vs_error *err)
{
	json_t *found = NULL, *e;
	const char *key;
	int64_t listed_ms;
	int rc = probe_find(c, &found, &listed_ms, err);

	*out = json_array();
	json_object_foreach (found, key, e) {
		json_t *d = probe_describe(e);
		if (strcmp(vs_json_str(d, "holderState"), "running") != 0)
			json_array_append(*out, d);
		json_decref(d);
	}
	json_decref(found);
	return rc;
}

/* ---- removing leftovers -------------------------------------------------------------------------- */

/* The "probe-kept" or "probe-removed" event of entry e, with why (a "reason"). */
static void probe_tell(mig_run *r, const char *type, const json_t *e, const char *why)
{
	mig_emit(r, type,
		 json_pack("{s:O, s:O, s:s}", "namespace", json_object_get(e, "namespace"), "name",
			   json_object_get(e, "name"), "reason", why));
}

/* The commands that remove entry e by hand, as one line. Caller frees. */
static char *probe_commands_text(const json_t *e)
{
	json_t *cmds = probe_commands(e), *cmd;
	vs_buf b;
	size_t i;

	vs_buf_init(&b, 0);
	json_array_foreach (cmds, i, cmd)
		vs_buf_printf(&b, "%s%s", i ? "; " : "", json_string_value(cmd));
	if (!b.len)
		vs_buf_puts(&b, "(nothing left)");
	json_decref(cmds);
	return vs_buf_steal(&b);
}

/* Why removing entry e failed, with what to do about it. */
static void probe_tell_failure(mig_run *r, const json_t *e, const vs_error *err)
{
	char *cmds = probe_commands_text(e);

	mig_say(r, "warning",
		"could not remove access-mode probe %s/%s: %s. The next volshift migrate, resume or rollback "
		"tries again; by hand: %s",
		vs_json_str(e, "namespace"), vs_json_str(e, "name"), err->message, cmds);
	free(cmds);
}

/* A legacy entry e is only named, with how to remove it. */
static void probe_tell_legacy(mig_run *r, const json_t *e)
{
	char *cmds = probe_commands_text(e);

	mig_say(r, "warning",
		"access-mode probe %s/%s was left by a volshift older than the probe labels: nothing tells "
		"whether that volshift still runs, so it is left alone. Once it does not, remove it by hand: %s",
		vs_json_str(e, "namespace"), vs_json_str(e, "name"), cmds);
	free(cmds);
}

/* Take entry e over (its Lease as lease, borrowed, shows it; NULL: it has none) and remove it. */
static void probe_remove_leftover(mig_run *r, const json_t *e, const json_t *lease, const char *why)
{
	mig_probe *p = NULL;
	vs_error err;
	int rc;

	vs_error_clear(&err);
	if (lease) {
		rc = probe_take_over(r, lease, &p, &err);
	} else {
		p = probe_new(r->c, vs_json_str(e, "namespace"), vs_json_str(e, "name"));
		rc = 0;
	}
	if (rc < 0 && (vs_error_is(&err, "Conflict") || vs_error_is(&err, "NotFound"))) {
		probe_tell(r, "probe-kept", e,
			   "its Lease changed before it could be taken over: its volshift, or another volshift that "
			   "removes it, holds it");
		return;
	}
	if (rc == 0)
		rc = mig_probe_end(r, p, &err);
	if (rc == 0)
		probe_tell(r, "probe-removed", e, why);
	else
		probe_tell_failure(r, e, &err);
}

static bool probe_lease_changed(const json_t *lease, void *ctx)
{
	return !lease || strcmp(vs_kube_obj_resource_version(lease), (const char *)ctx) != 0;
}

/* How long lease (borrowed) must go unchanged for its holder to be judged gone: its own duration,
 * from 1 s to PROBE_LEASE_MAX_SECONDS. */
static int64_t probe_lease_window_ms(const json_t *lease)
{
	long long secs = vs_json_int(lease, "spec.leaseDurationSeconds", PROBE_LEASE_SECONDS);

	if (secs < 1)
		secs = 1;
	if (secs > PROBE_LEASE_MAX_SECONDS)
		secs = PROBE_LEASE_MAX_SECONDS;
	return (int64_t)secs * 1000;
}

/* Judge the holder of entry e, elsewhere, by its Lease (borrowed) as read at listed_ms: renewed
 * within its duration from then, it lives; unchanged, it is gone and e is removed. */
static void probe_watch_leftover(mig_run *r, const json_t *e, const json_t *lease, int64_t listed_ms, const char *why)
{
	int64_t left = listed_ms + probe_lease_window_ms(lease) - vs_time_mono_ms();
	const char *rv = vs_kube_obj_resource_version(lease);
	vs_error err;
	int rc;

	vs_error_clear(&err);
	if (left > 0)
		mig_say(r, "waiting",
			"access-mode probe %s/%s is held by %s; waiting up to %lld s for it to renew its Lease",
			vs_json_str(e, "namespace"), vs_json_str(e, "name"), probe_lease_holder(lease),
			(long long)(left + 999) / 1000);
	rc = mig_wait_from(r, &VS_KUBE_LEASES, lease, probe_lease_changed, (void *)rv, left > 0 ? left : 1,
			   "the Lease to be renewed", &err);
	if (rc == 0)
		probe_tell(r, "probe-kept", e, "its Lease was renewed: its volshift still runs");
	else if (rc == VS_ETIMEOUT)
		probe_remove_leftover(r, e, lease, why);
	else
		probe_tell_failure(r, e, &err);
}

void vs_migrate_probe_cleanup(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_event_fn fn, void *ctx)
{
	mig_run r = { .c = c, .opts = opts, .fn = fn, .ctx = ctx };
	json_t *found = NULL, *e;
	const char *key;
	int64_t listed_ms;
	vs_error err;

	vs_error_clear(&err);
	if (probe_find(c, &found, &listed_ms, &err) < 0) {
		mig_say(&r, "warning", "%s (nothing was removed)", err.message);
		json_decref(found);
		return;
	}
	for (int pass = 0; pass < 2; pass++) { /* judged at once first, then by watching their Leases */
		json_object_foreach (found, key, e) {
			char *why = NULL;
			enum probe_verdict v = probe_judge(e, &why);
			const json_t *lease = json_object_get(e, "lease");
			if (pass == 0 && v == PROBE_RUNNING)
				probe_tell(&r, "probe-kept", e, why);
			else if (pass == 0 && v == PROBE_GONE)
				probe_remove_leftover(&r, e, lease, why);
			else if (pass == 0 && v == PROBE_LEGACY)
				probe_tell_legacy(&r, e);
			else if (pass == 1 && v == PROBE_UNKNOWN)
				probe_watch_leftover(&r, e, lease, listed_ms, why);
			free(why);
		}
	}
	json_decref(found);
}
