/*
 * sched: the kube-scheduler of volshift-sim. It places Pending pods on nodes, honouring nodeName,
 * nodeSelector, required node affinity, cordoned nodes and the pod's volumes (missing claims,
 * volume node affinity, WaitForFirstConsumer claims, ReadWriteOnce volumes already attached to a
 * node, ReadWriteOncePod), spreads pods over the nodes, and reports FailedScheduling with the
 * wording of kube-scheduler. It also plays the node heartbeat: nodes get a Ready status.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define ANN_SELECTED_NODE "volume.kubernetes.io/selected-node"

static bool pvc_bound(const json_t *pvc)
{
	const char *phase = vs_json_str(pvc, "status.phase");
	return phase && strcmp(phase, "Bound") == 0;
}


/* ---- nodes ------------------------------------------------------------------------------------ */

static void ensure_node_status(sim_cluster *c, const json_t *node)
{
	size_t i;
	json_t *cond;
	json_array_foreach(vs_json_path(node, "status.conditions"), i, cond) {
		const char *t = vs_json_str(cond, "type");
		if (t && strcmp(t, "Ready") == 0)
			return;
	}
	const char *name = cl_name(node);
	if (!json_object_get(vs_json_path(node, "metadata.labels"), "kubernetes.io/hostname")) {
		json_t *copy = json_deep_copy(node);
		cl_set_label(copy, "kubernetes.io/hostname", name);
		cl_set_label(copy, "kubernetes.io/os", "linux");
		cl_set_label(copy, "kubernetes.io/arch", "amd64");
		cl_update(c, cl_res_node, copy, SIM_UPDATE_MAIN);
		json_decref(copy);
		return; /* next pass writes the status on the fresh object */
	}
	char now[32];
	vs_time_format(vs_time_now(), now);
	json_t *copy = json_deep_copy(node);
	json_t *res = json_pack("{s:s, s:s, s:s, s:s}", "cpu", "4", "memory", "8Gi", "pods", "110", "ephemeral-storage", "100Gi");
	vs_json_set_path(copy, "status.capacity", json_deep_copy(res));
	vs_json_set_path(copy, "status.allocatable", res);
	vs_json_set_path(copy, "status.addresses",
			 json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "InternalIP", "address", "127.0.0.1", "type",
				   "Hostname", "address", name));
	vs_json_set_path(copy, "status.nodeInfo",
			 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "machineID", cl_uid(node) ?: "",
				   "systemUUID", cl_uid(node) ?: "", "bootID", "", "kernelVersion", "volshift-sim",
				   "osImage", "volshift-sim", "containerRuntimeVersion", "volshift-sim://1",
				   "kubeletVersion", "v1.26.0", "kubeProxyVersion", "v1.26.0", "operatingSystem", "linux",
				   "architecture", "amd64"));
	vs_json_set_path(copy, "status.conditions",
			 json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s}]", "type", "Ready", "status", "True",
				   "lastHeartbeatTime", now, "lastTransitionTime", now, "reason", "KubeletReady",
				   "message", "volshift-sim node agent is posting ready status"));
	vs_json_set_path(copy, "status.phase", json_string("Running"));
	cl_update(c, cl_res_node, copy, SIM_UPDATE_STATUS);
	json_decref(copy);
}

/* ---- placing one pod -------------------------------------------------------------------------- */

struct node_slot {
	const json_t *node;
	int pods;
	const char *why; /* NULL while the node still fits */
};

/* The active pods other than pod that use claim ns/name (borrowed array members appended). */
static void claim_users(const json_t *pods, const json_t *pod, const char *claim, json_t *out)
{
	size_t i, j;
	json_t *p, *v;
	json_array_foreach(pods, i, p) {
		if (p == pod || !cl_pod_active(p) || strcmp(cl_ns(p), cl_ns(pod)) != 0)
			continue;
		if (!vs_json_str(p, "spec.nodeName"))
			continue;
		json_array_foreach(vs_json_path(p, "spec.volumes"), j, v) {
			const char *cn = vs_json_str(v, "persistentVolumeClaim.claimName");
			if (cn && strcmp(cn, claim) == 0) {
				json_array_append(out, p);
				break;
			}
		}
	}
}

static void rule_out(struct node_slot *slots, size_t n, const char *keep_node, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].why && (!keep_node || strcmp(cl_name(slots[i].node), keep_node) != 0))
			slots[i].why = why;
	}
}

static void report_unschedulable(sim_cluster *c, const json_t *pod, struct node_slot *slots, size_t n,
				 const char *extra)
{
	/* "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match ..." */
	vs_buf b;
	vs_buf_init(&b, 0);
	vs_buf_printf(&b, "0/%zu nodes are available: ", n);
	if (extra)
		vs_buf_printf(&b, "%s. ", extra);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].why)
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = slots[j].why && strcmp(slots[j].why, slots[i].why) == 0;
		if (seen)
			continue;
		int count = 0;
		for (size_t j = 0; j < n; j++)
			count += slots[j].why && strcmp(slots[j].why, slots[i].why) == 0;
		vs_buf_printf(&b, "%s%d node(s) %s", first ? "" : ", ", count, slots[i].why);
		first = false;
	}
	if (!first)
		vs_buf_puts(&b, ".");
	if (n == 0 && !extra)
		vs_buf_puts(&b, "no nodes available to schedule pods.");
	cl_event_once(c, pod, "Warning", "FailedScheduling", "%s", b.data);
	/* the PodScheduled condition, as kube-scheduler writes it */
	json_t *copy = json_deep_copy(pod);
	json_t *conds = json_array();
	size_t i;
	json_t *cond;
	bool same = false;
	json_array_foreach(vs_json_path(pod, "status.conditions"), i, cond) {
		const char *t = vs_json_str(cond, "type");
		if (t && strcmp(t, "PodScheduled") == 0) {
			const char *m = vs_json_str(cond, "message");
			same = m && strcmp(m, b.data) == 0;
			continue;
		}
		json_array_append(conds, cond);
	}
	if (!same) {
		char now[32];
		vs_time_format(vs_time_now(), now);
		json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "PodScheduled", "status", "False",
						       "reason", "Unschedulable", "message", b.data, "lastTransitionTime", now));
		vs_json_set_path(copy, "status.conditions", conds);
		vs_json_set_path(copy, "status.phase", json_string("Pending"));
		cl_update(c, cl_res_pod, copy, SIM_UPDATE_STATUS);
	} else {
		json_decref(conds);
	}
	json_decref(copy);
	vs_buf_free(&b);
}

static void bind_pod(sim_cluster *c, const json_t *pod, const char *node)
{
	json_t *copy = json_deep_copy(pod);
	vs_json_set_path(copy, "spec.nodeName", json_string(node));
	json_t *stored = NULL;
	vs_error err;
	vs_error_clear(&err);
	if (sim_api_update(c->st, cl_res_pod, cl_ns(pod), copy, SIM_UPDATE_MAIN, &stored, &err) != 0) {
		if (!vs_error_is(&err, "Conflict") && !vs_error_is(&err, "NotFound"))
			vs_warn("sched: bind %s/%s to %s: %s", cl_ns(pod), cl_name(pod), node, err.message);
		json_decref(copy);
		return;
	}
	json_decref(copy);
	char now[32];
	vs_time_format(vs_time_now(), now);
	json_t *conds = json_array();
	size_t i;
	json_t *cond;
	json_array_foreach(vs_json_path(stored, "status.conditions"), i, cond) {
		const char *t = vs_json_str(cond, "type");
		if (!t || strcmp(t, "PodScheduled") != 0)
			json_array_append(conds, cond);
	}
	json_array_append_new(conds, json_pack("{s:s, s:s, s:s}", "type", "PodScheduled", "status", "True",
					       "lastTransitionTime", now));
	vs_json_set_path(stored, "status.conditions", conds);
	if (!vs_json_str(stored, "status.phase"))
		vs_json_set_path(stored, "status.phase", json_string("Pending"));
	cl_update(c, cl_res_pod, stored, SIM_UPDATE_STATUS);
	sim_api_event(c->st, stored, "Normal", "Scheduled", "Successfully assigned %s/%s to %s", cl_ns(pod),
		      cl_name(pod), node);
	vs_info("sched: %s/%s -> %s", cl_ns(pod), cl_name(pod), node);
	json_decref(stored);
}

static void select_node_for_claim(sim_cluster *c, const json_t *pvc, const char *node)
{
	json_t *copy = json_deep_copy(pvc);
	cl_set_annotation(copy, ANN_SELECTED_NODE, node);
	if (cl_update(c, cl_res_pvc, copy, SIM_UPDATE_MAIN) == 0)
		vs_info("sched: claim %s/%s selected node %s", cl_ns(pvc), cl_name(pvc), node);
	json_decref(copy);
}

struct world {
	json_t *nodes, *pods; /* pvcs, pvs and classes: cl_lists_find(c->sched_lists) */
	json_t *counts;	      /* node name -> active pods, kept current within a pass */
};

static void schedule_pod(sim_cluster *c, const json_t *pod, const struct world *w)
{
	size_t n = json_array_size(w->nodes);
	struct node_slot *slots = vs_xcalloc(n ? n : 1, sizeof *slots);
	json_t *wffc = json_array(); /* unbound WaitForFirstConsumer claims (borrowed) */
	json_t *users = json_array();
	const char *extra = NULL;
	char extra_buf[512];
	const json_t *spec = json_object_get(pod, "spec");
	for (size_t i = 0; i < n; i++) {
		slots[i].node = json_array_get(w->nodes, i);
		slots[i].pods = (int)json_integer_value(json_object_get(w->counts, cl_name(slots[i].node)));
		if (!cl_node_schedulable(slots[i].node))
			slots[i].why = "were unschedulable";
		else if (!cl_node_matches_pod(slots[i].node, spec))
			slots[i].why = "didn't match Pod's node affinity/selector";
	}
	size_t i;
	json_t *vol;
	json_array_foreach(vs_json_path(spec, "volumes"), i, vol) {
		const char *claim = vs_json_str(vol, "persistentVolumeClaim.claimName");
		if (!claim)
			continue;
		json_t *pvc = cl_lists_find(c->sched_lists, cl_res_pvc, cl_ns(pod), claim);
		if (!pvc) {
			snprintf(extra_buf, sizeof extra_buf, "persistentvolumeclaim \"%s\" not found", claim);
			cl_event_once(c, pod, "Warning", "FailedScheduling", "%s", extra_buf);
			goto done;
		}
		if (cl_deleting(pvc)) {
			snprintf(extra_buf, sizeof extra_buf, "persistentvolumeclaim \"%s\" is being deleted", claim);
			cl_event_once(c, pod, "Warning", "FailedScheduling", "%s", extra_buf);
			goto done;
		}
		if (!pvc_bound(pvc)) {
			const char *cls = vs_json_str(pvc, "spec.storageClassName");
			json_t *sc = cls ? cl_lists_find(c->sched_lists, cl_res_sc, NULL, cls) : NULL;
			const char *mode = vs_json_str(sc, "volumeBindingMode");
			const char *vn = vs_json_str(pvc, "spec.volumeName");
			if (mode && strcmp(mode, "WaitForFirstConsumer") == 0 && !(vn && *vn)) {
				json_array_append(wffc, pvc);
				const char *sel = json_string_value(
					json_object_get(vs_json_path(pvc, "metadata.annotations"), ANN_SELECTED_NODE));
				if (sel)
					rule_out(slots, n, sel, "didn't match the node selected for its volume");
				continue;
			}
			extra = "pod has unbound immediate PersistentVolumeClaims";
			cl_event_once(c, pod, "Warning", "FailedScheduling",
				      "0/%zu nodes are available: pod has unbound immediate PersistentVolumeClaims. "
				      "preemption: 0/%zu nodes are available: %zu Preemption is not helpful for scheduling.",
				      n, n, n);
			goto done;
		}
		json_t *pv = cl_lists_find(c->sched_lists, cl_res_pv, NULL, vs_json_str(pvc, "spec.volumeName") ?: "");
		const json_t *na = vs_json_path(pv, "spec.nodeAffinity.required");
		for (size_t k = 0; k < n; k++) {
			if (!slots[k].why && na && !cl_node_matches_selector(slots[k].node, na))
				slots[k].why = "didn't match PersistentVolume's node affinity";
		}
		const json_t *modes = vs_json_path(pvc, "status.accessModes");
		if (!modes)
			modes = vs_json_path(pvc, "spec.accessModes");
		json_array_clear(users);
		claim_users(w->pods, pod, claim, users);
		if (json_array_size(users) == 0)
			continue;
		const json_t *u = json_array_get(users, 0);
		if (vs_json_array_has_str(modes, "ReadWriteOncePod")) {
			for (size_t k = 0; k < n; k++)
				if (!slots[k].why)
					slots[k].why = "didn't satisfy the ReadWriteOncePod access mode of a volume";
			continue;
		}
		if (vs_json_array_has_str(modes, "ReadWriteOnce") && !vs_json_array_has_str(modes, "ReadWriteMany") &&
		    !vs_json_array_has_str(modes, "ReadOnlyMany")) {
			const char *used_on = vs_json_str(u, "spec.nodeName");
			bool fits_there = false;
			for (size_t k = 0; k < n; k++)
				if (!slots[k].why && strcmp(cl_name(slots[k].node), used_on) == 0)
					fits_there = true;
			if (!fits_there)
				cl_event_once(c, pod, "Warning", "FailedAttachVolume",
					      "Multi-Attach error for volume \"%s\" Volume is already used by pod(s) %s",
					      cl_name(pv) ? cl_name(pv) : claim, cl_name(u));
			rule_out(slots, n, used_on, "had a volume attached to another node (ReadWriteOnce)");
		}
	}
	{
		struct node_slot *best = NULL;
		for (size_t k = 0; k < n; k++) {
			if (slots[k].why)
				continue;
			if (!best || slots[k].pods < best->pods)
				best = &slots[k];
		}
		if (!best) {
			report_unschedulable(c, pod, slots, n, extra);
			goto done;
		}
		const char *node = cl_name(best->node);
		bool waiting = false;
		json_t *pvc;
		json_array_foreach(wffc, i, pvc) {
			if (!json_object_get(vs_json_path(pvc, "metadata.annotations"), ANN_SELECTED_NODE))
				select_node_for_claim(c, pvc, node);
			waiting = true;
		}
		if (!waiting) {
			bind_pod(c, pod, node);
			json_object_set_new(w->counts, node, json_integer(best->pods + 1));
		}
	}
done:
	json_decref(users);
	json_decref(wffc);
	free(slots);
}

/* One pass over the pending pods, seeing the cluster an informer delay late (kube-scheduler's
 * informers), from lists taken before it acts. */
static void sched_reconcile(sim_cluster *c)
{
	cl_watch_delay(c);
	struct world w = {
		.nodes = cl_list_reuse(c, cl_res_node, &c->sched_lists),
		.pods = cl_list_reuse(c, cl_res_pod, &c->sched_lists),
		.counts = json_object(),
	};
	cl_lists_refresh(c, cl_res_pvc, &c->sched_lists);
	cl_lists_refresh(c, cl_res_pv, &c->sched_lists);
	cl_lists_refresh(c, cl_res_sc, &c->sched_lists);
	size_t i;
	json_t *it;
	json_array_foreach(w.pods, i, it) {
		const char *pn = vs_json_str(it, "spec.nodeName");
		if (pn && cl_pod_active(it))
			json_object_set_new(w.counts, pn,
					    json_integer(json_integer_value(json_object_get(w.counts, pn)) + 1));
	}
	json_array_foreach(w.nodes, i, it)
		ensure_node_status(c, it);
	json_array_foreach(w.pods, i, it) {
		const char *nn = vs_json_str(it, "spec.nodeName");
		if ((nn && *nn) || cl_deleting(it))
			continue;
		const char *phase = vs_json_str(it, "status.phase");
		if (phase && strcmp(phase, "Pending") != 0)
			continue;
		const char *sn = vs_json_str(it, "spec.schedulerName");
		if (sn && strcmp(sn, "default-scheduler") != 0)
			continue;
		schedule_pod(c, it, &w);
	}
	json_decref(w.nodes);
	json_decref(w.pods);
	json_decref(w.counts);
}

int sim_sched_start(sim_cluster *c, vs_error *err)
{
	return cl_spawn(c, "sched", sched_reconcile, NULL, 1000, err);
}
