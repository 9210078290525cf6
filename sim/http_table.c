/*
 * http_table: meta.k8s.io/v1 Table answers for kubectl's default output, with the columns
 * kube-apiserver prints for the types volshift looks at most (pods, claims, volumes, workloads,
 * storage classes, nodes) and for custom resources (their CRD's additionalPrinterColumns). Other
 * types get no table and kubectl prints NAME and AGE itself.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* translateTimestampSince: how long ago the time ts was ("5m", "3h2m"). */
static void human_age_of(const char *ts, char *out, size_t n)
{
	int64_t t = 0, s;

	if (!ts || vs_time_parse(ts, &t, NULL) != 0) {
		snprintf(out, n, "<unknown>");
		return;
	}
	s = vs_time_now() - t;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, n, "%llds", (long long)s);
	else if (s < 600)
		snprintf(out, n, s % 60 ? "%lldm%llds" : "%lldm", (long long)(s / 60), (long long)(s % 60));
	else if (s < 3 * 3600)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else if (s < 8 * 3600)
		snprintf(out, n, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s < 48 * 3600)
		snprintf(out, n, "%lldh", (long long)(s / 3600));
	else if (s < 8 * 86400)
		snprintf(out, n, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else
		snprintf(out, n, "%lldd", (long long)(s / 86400));
}

static void human_age(const json_t *o, char *out, size_t n)
{
	human_age_of(vs_json_str(o, "metadata.creationTimestamp"), out, n);
}

static json_t *col(const char *name, const char *type, int priority)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", name, "type", type, "format", strcmp(name, "Name") == 0 ? "name" : "",
			 "description", "", "priority", priority);
}

static const char *str_or(const json_t *o, const char *path, const char *dflt)
{
	const char *s = vs_json_str(o, path);

	return s && *s ? s : dflt;
}

static char *access_modes(const json_t *modes)
{
	vs_buf b;
	json_t *m;
	size_t i;

	vs_buf_init(&b, 0);
	json_array_foreach(modes, i, m) {
		const char *s = json_string_value(m);
		const char *abbr = !s ? "" : strcmp(s, "ReadWriteOnce") == 0 ? "RWO" : strcmp(s, "ReadOnlyMany") == 0 ? "ROX" :
				       strcmp(s, "ReadWriteMany") == 0 ? "RWX" : strcmp(s, "ReadWriteOncePod") == 0 ? "RWOP" : s;
		vs_buf_printf(&b, "%s%s", i ? "," : "", abbr);
	}
	return vs_buf_steal(&b);
}

/* A terminated state's reason as kubectl prints it: its reason, else the signal or the exit code. */
static void terminated_reason(const json_t *t, const char *prefix, char *out, size_t n)
{
	if (vs_json_str(t, "reason") && *vs_json_str(t, "reason"))
		snprintf(out, n, "%s%s", prefix, vs_json_str(t, "reason"));
	else if (vs_json_int(t, "signal", 0) != 0)
		snprintf(out, n, "%sSignal:%lld", prefix, vs_json_int(t, "signal", 0));
	else
		snprintf(out, n, "%sExitCode:%lld", prefix, vs_json_int(t, "exitCode", 0));
}

static bool pod_ready(const json_t *o)
{
	json_t *c;
	size_t i;

	json_array_foreach(vs_json_path(o, "status.conditions"), i, c)
		if (strcmp(str_or(c, "type", ""), "Ready") == 0)
			return strcmp(str_or(c, "status", ""), "True") == 0;
	return false;
}

/* printPod's STATUS while initialization is not done ("Init:1/2", "Init:Error",
 * "Init:CrashLoopBackOff"): false once every init container has succeeded. Counts their restarts. */
static bool init_status(const json_t *o, char *out, size_t n, long *restarts)
{
	json_t *c;
	size_t i;

	json_array_foreach(vs_json_path(o, "status.initContainerStatuses"), i, c) {
		const json_t *t = vs_json_path(c, "state.terminated");
		const char *waiting = vs_json_str(c, "state.waiting.reason");
		*restarts += (long)vs_json_int(c, "restartCount", 0);
		if (t && vs_json_int(t, "exitCode", 0) == 0)
			continue;
		if (t)
			terminated_reason(t, "Init:", out, n);
		else if (waiting && *waiting && strcmp(waiting, "PodInitializing") != 0)
			snprintf(out, n, "Init:%s", waiting);
		else
			snprintf(out, n, "Init:%zu/%zu", i, json_array_size(vs_json_path(o, "spec.initContainers")));
		return true;
	}
	return false;
}

static json_t *pod_cells(const json_t *o, const char *age)
{
	json_t *cs = vs_json_path(o, "status.containerStatuses"), *c;
	long ready = 0, restarts = 0, total = (long)json_array_size(vs_json_path(o, "spec.containers"));
	char status[128], readys[32];
	bool running = false;
	size_t i;

	snprintf(status, sizeof(status), "%s", str_or(o, "status.reason", str_or(o, "status.phase", "Pending")));
	if (!init_status(o, status, sizeof(status), &restarts)) {
		restarts = 0;
		for (i = json_array_size(cs); i-- > 0;) { /* the first container's reason wins */
			c = json_array_get(cs, i);
			restarts += (long)vs_json_int(c, "restartCount", 0);
			if (vs_json_str(c, "state.waiting.reason") && *vs_json_str(c, "state.waiting.reason"))
				snprintf(status, sizeof(status), "%s", vs_json_str(c, "state.waiting.reason"));
			else if (vs_json_path(c, "state.terminated"))
				terminated_reason(vs_json_path(c, "state.terminated"), "", status, sizeof(status));
			else if (vs_json_bool(c, "ready", false) && vs_json_path(c, "state.running")) {
				running = true;
				ready++;
			}
		}
		if (strcmp(status, "Completed") == 0 && running)
			snprintf(status, sizeof(status), "%s", pod_ready(o) ? "Running" : "NotReady");
	}
	if (vs_json_path(o, "metadata.deletionTimestamp"))
		snprintf(status, sizeof(status), "Terminating");
	snprintf(readys, sizeof(readys), "%ld/%ld", ready, total);
	return json_pack("[s,s,s,i,s,s,s]", vs_json_str(o, "metadata.name"), readys, status, (int)restarts, age,
			 str_or(o, "status.podIP", "<none>"), str_or(o, "spec.nodeName", "<none>"));
}

static json_t *row_cells(const sim_resource *res, const json_t *o)
{
	const char *name = vs_json_str(o, "metadata.name"), *p = res->plural;
	char age[32], buf[300];

	human_age(o, age, sizeof(age));
	if (strcmp(p, "pods") == 0)
		return pod_cells(o, age);
	if (strcmp(p, "persistentvolumeclaims") == 0) {
		char *am = access_modes(vs_json_path(o, "status.accessModes"));
		json_t *r = json_pack("[s,s,s,s,s,s,s,s]", name, str_or(o, "status.phase", ""),
				      str_or(o, "spec.volumeName", ""), str_or(o, "status.capacity.storage", ""), am,
				      str_or(o, "spec.storageClassName", "<unset>"), "<unset>", age);
		free(am);
		if (vs_json_path(o, "metadata.deletionTimestamp"))
			json_array_set_new(r, 1, json_string("Terminating"));
		json_array_append_new(r, json_string(str_or(o, "spec.volumeMode", "")));
		return r;
	}
	if (strcmp(p, "persistentvolumes") == 0) {
		char *am = access_modes(vs_json_path(o, "spec.accessModes"));
		json_t *r;
		if (vs_json_str(o, "spec.claimRef.name"))
			snprintf(buf, sizeof(buf), "%s/%s", str_or(o, "spec.claimRef.namespace", ""), vs_json_str(o, "spec.claimRef.name"));
		else
			buf[0] = '\0';
		r = json_pack("[s,s,s,s,s,s,s,s,s,s,s]", name, str_or(o, "spec.capacity.storage", ""), am,
			      str_or(o, "spec.persistentVolumeReclaimPolicy", ""),
			      vs_json_path(o, "metadata.deletionTimestamp") ? "Terminating" : str_or(o, "status.phase", ""),
			      buf, str_or(o, "spec.storageClassName", ""), "<unset>", str_or(o, "status.reason", ""), age,
			      str_or(o, "spec.volumeMode", ""));
		free(am);
		return r;
	}
	if (strcmp(p, "deployments") == 0) {
		snprintf(buf, sizeof(buf), "%lld/%lld", vs_json_int(o, "status.readyReplicas", 0), vs_json_int(o, "spec.replicas", 1));
		return json_pack("[s,s,I,I,s]", name, buf, (json_int_t)vs_json_int(o, "status.updatedReplicas", 0),
				 (json_int_t)vs_json_int(o, "status.availableReplicas", 0), age);
	}
	if (strcmp(p, "statefulsets") == 0) {
		snprintf(buf, sizeof(buf), "%lld/%lld", vs_json_int(o, "status.readyReplicas", 0), vs_json_int(o, "spec.replicas", 1));
		return json_pack("[s,s,s]", name, buf, age);
	}
	if (strcmp(p, "replicasets") == 0)
		return json_pack("[s,I,I,I,s]", name, (json_int_t)vs_json_int(o, "spec.replicas", 1),
				 (json_int_t)vs_json_int(o, "status.replicas", 0),
				 (json_int_t)vs_json_int(o, "status.readyReplicas", 0), age);
	if (strcmp(p, "jobs") == 0) {
		snprintf(buf, sizeof(buf), "%lld/%lld", vs_json_int(o, "status.succeeded", 0), vs_json_int(o, "spec.completions", 1));
		return json_pack("[s,s,s]", name, buf, age);
	}
	if (strcmp(p, "storageclasses") == 0) {
		const char *d = json_string_value(
			json_object_get(vs_json_path(o, "metadata.annotations"), "storageclass.kubernetes.io/is-default-class"));
		snprintf(buf, sizeof(buf), "%s%s", name, d && strcmp(d, "true") == 0 ? " (default)" : "");
		return json_pack("[s,s,s,s,b,s]", buf, str_or(o, "provisioner", ""), str_or(o, "reclaimPolicy", "Delete"),
				 str_or(o, "volumeBindingMode", "Immediate"), vs_json_bool(o, "allowVolumeExpansion", false),
				 age);
	}
	if (strcmp(p, SIM_CRD_PLURAL) == 0)
		return json_pack("[s,s]", name, str_or(o, "metadata.creationTimestamp", ""));
	if (strcmp(p, "nodes") == 0) {
		json_t *conds = vs_json_path(o, "status.conditions"), *c;
		const char *st = "Unknown";
		size_t i;
		json_array_foreach(conds, i, c)
			if (strcmp(str_or(c, "type", ""), "Ready") == 0)
				st = strcmp(str_or(c, "status", ""), "True") == 0 ? "Ready" : "NotReady";
		snprintf(buf, sizeof(buf), "%s%s", st, vs_json_bool(o, "spec.unschedulable", false) ? ",SchedulingDisabled" : "");
		return json_pack("[s,s,s,s,s]", name, buf, "<none>", age, str_or(o, "status.nodeInfo.kubeletVersion", ""));
	}
	return NULL;
}

static json_t *columns(const sim_resource *res)
{
	const char *p = res->plural;

	if (strcmp(p, "pods") == 0)
		return json_pack("[o,o,o,o,o,o,o]", col("Name", "string", 0), col("Ready", "string", 0),
				 col("Status", "string", 0), col("Restarts", "integer", 0), col("Age", "string", 0),
				 col("IP", "string", 1), col("Node", "string", 0));
	if (strcmp(p, "persistentvolumeclaims") == 0)
		return json_pack("[o,o,o,o,o,o,o,o,o]", col("Name", "string", 0), col("Status", "string", 0),
				 col("Volume", "string", 0), col("Capacity", "string", 0), col("Access Modes", "string", 0),
				 col("StorageClass", "string", 0), col("VolumeAttributesClass", "string", 1),
				 col("Age", "string", 0), col("VolumeMode", "string", 1));
	if (strcmp(p, "persistentvolumes") == 0)
		return json_pack("[o,o,o,o,o,o,o,o,o,o,o]", col("Name", "string", 0), col("Capacity", "string", 0),
				 col("Access Modes", "string", 0), col("Reclaim Policy", "string", 0),
				 col("Status", "string", 0), col("Claim", "string", 0), col("StorageClass", "string", 0),
				 col("VolumeAttributesClass", "string", 1), col("Reason", "string", 0),
				 col("Age", "string", 0), col("VolumeMode", "string", 1));
	if (strcmp(p, "deployments") == 0)
		return json_pack("[o,o,o,o,o]", col("Name", "string", 0), col("Ready", "string", 0),
				 col("Up-to-date", "integer", 0), col("Available", "integer", 0), col("Age", "string", 0));
	if (strcmp(p, "statefulsets") == 0)
		return json_pack("[o,o,o]", col("Name", "string", 0), col("Ready", "string", 0), col("Age", "string", 0));
	if (strcmp(p, "replicasets") == 0)
		return json_pack("[o,o,o,o,o]", col("Name", "string", 0), col("Desired", "integer", 0),
				 col("Current", "integer", 0), col("Ready", "integer", 0), col("Age", "string", 0));
	if (strcmp(p, "jobs") == 0)
		return json_pack("[o,o,o]", col("Name", "string", 0), col("Completions", "string", 0), col("Age", "string", 0));
	if (strcmp(p, "storageclasses") == 0)
		return json_pack("[o,o,o,o,o,o]", col("Name", "string", 0), col("Provisioner", "string", 0),
				 col("ReclaimPolicy", "string", 0), col("VolumeBindingMode", "string", 0),
				 col("AllowVolumeExpansion", "boolean", 0), col("Age", "string", 0));
	if (strcmp(p, SIM_CRD_PLURAL) == 0)
		return json_pack("[o,o]", col("Name", "string", 0), col("Created At", "date", 0));
	if (strcmp(p, "nodes") == 0)
		return json_pack("[o,o,o,o,o]", col("Name", "string", 0), col("Status", "string", 0), col("Roles", "string", 0),
				 col("Age", "string", 0), col("Version", "string", 0));
	return NULL;
}

/* ---- custom resources ------------------------------------------------------------------------ */

/* The value at a printer column's JSON path (".spec.replicas", ".status.items[0].name"), or NULL:
 * paths with filters or wildcards are not evaluated (borrowed). */
static json_t *column_value(const json_t *o, const char *path)
{
	json_t *cur = (json_t *)o;
	char key[128];

	while (cur && path && *path == '.') {
		size_t n = strcspn(++path, ".[");
		if (n == 0 || n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		for (path += n; cur && *path == '['; path = strchr(path, ']') + 1) {
			char *end;
			long i = strtol(path + 1, &end, 10);
			if (*end != ']' || end == path + 1 || !json_is_array(cur))
				return NULL;
			cur = json_array_get(cur, (size_t)i);
		}
	}
	return path && *path ? NULL : cur;
}

/* A custom resource's row: its name, then each printer column's value (a date as an age). */
static json_t *custom_cells(const json_t *cols, const json_t *o)
{
	json_t *cells = json_pack("[s]", vs_json_str_or(o, "metadata.name", "")), *c;
	size_t i;

	json_array_foreach (cols, i, c) {
		json_t *v = column_value(o, vs_json_str(c, "jsonPath"));
		char age[32];
		if (v && json_is_string(v) && strcmp(vs_json_str_or(c, "type", ""), "date") == 0) {
			human_age_of(json_string_value(v), age, sizeof(age));
			json_array_append_new(cells, json_string(age));
		} else {
			json_array_append_new(cells, v ? json_incref(v) : json_null());
		}
	}
	return cells;
}

static json_t *custom_columns(const json_t *cols)
{
	json_t *out = json_pack("[o]", col("Name", "string", 0)), *c;
	size_t i;

	json_array_foreach (cols, i, c)
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", vs_json_str_or(c, "name", ""),
						     "type", vs_json_str_or(c, "type", "string"), "format",
						     vs_json_str_or(c, "format", ""), "description",
						     vs_json_str_or(c, "description", ""), "priority",
						     (json_int_t)vs_json_int(c, "priority", 0)));
	return out;
}

json_t *sim_table_of(const sim_resource *res, const json_t *obj_or_list)
{
	const json_t *custom = sim_resource_printer_columns(res);
	json_t *cols = custom ? custom_columns(custom) : columns(res), *rows, *items, *it, *meta;
	size_t i;

	if (!cols)
		return NULL;
	rows = json_array();
	items = json_object_get(obj_or_list, "items");
	if (!json_is_array(items))
		items = json_pack("[O]", obj_or_list);
	else
		json_incref(items);
	json_array_foreach(items, i, it)
		json_array_append_new(rows,
				      json_pack("{s:o,s:O}", "cells",
						custom ? custom_cells(custom, it) : row_cells(res, it), "object", it));
	json_decref(items);
	meta = json_object();
	if (vs_json_str(obj_or_list, "metadata.resourceVersion") && json_object_get(obj_or_list, "items"))
		json_object_set_new(meta, "resourceVersion", json_string(vs_json_str(obj_or_list, "metadata.resourceVersion")));
	if (vs_json_str(obj_or_list, "metadata.continue") && json_object_get(obj_or_list, "items"))
		json_object_set_new(meta, "continue", json_string(vs_json_str(obj_or_list, "metadata.continue")));
	return json_pack("{s:s,s:s,s:o,s:o,s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1", "metadata", meta,
			 "columnDefinitions", cols, "rows", rows);
}
