/*
 * ctrl_ttl: kube-controller-manager's TTL-after-finished controller
 * (pkg/controller/ttlafterfinished). A Job that has finished (Complete or Failed) and sets
 * spec.ttlSecondsAfterFinished is deleted that many seconds after the condition's
 * lastTransitionTime, in the foreground with its uid as a precondition, so the garbage collector
 * deletes its pods before the Job goes. It reconciles from a list an informer delay late, as the
 * other controllers of volshift-sim do.
 */
#include "cluster_int.h"

#include <string.h>

/* jobFinishTime: when the Job finished (epoch seconds), or -1 when it has not. */
static int64_t job_finish_time(const json_t *job)
{
	size_t i;
	json_t *cnd;
	int64_t t = -1;

	json_array_foreach (vs_json_path(job, "status.conditions"), i, cnd) {
		const char *type = vs_json_str_or(cnd, "type", ""), *ltt = vs_json_str(cnd, "lastTransitionTime");
		if ((strcmp(type, "Complete") == 0 || strcmp(type, "Failed") == 0) &&
		    strcmp(vs_json_str_or(cnd, "status", ""), "True") == 0 && ltt && vs_time_parse(ltt, &t, NULL) == 0)
			return t;
	}
	return -1;
}

/* processJob: delete job once its TTL after it finished has passed. */
static void ttl_process_job(sim_cluster *c, const json_t *job)
{
	const json_t *ttl = vs_json_path(job, "spec.ttlSecondsAfterFinished");
	int64_t finished = job_finish_time(job);
	sim_delete_opts opts = { SIM_PROPAGATE_FOREGROUND, cl_uid(job), NULL, -1 };
	vs_error err;

	if (!json_is_integer(ttl) || finished < 0 || cl_deleting(job) ||
	    vs_time_now() < finished + json_integer_value(ttl))
		return;
	vs_error_clear(&err);
	if (sim_api_delete(c->st, cl_res_job, cl_ns(job), cl_name(job), &opts, NULL, NULL, &err) == 0)
		vs_info("ttl-after-finished: deleted job %s/%s, %llds after it finished", cl_ns(job), cl_name(job),
			(long long)json_integer_value(ttl));
	else if (!vs_error_is(&err, "NotFound") && !vs_error_is(&err, "Conflict"))
		vs_warn("ttl-after-finished: delete job %s/%s: %s (will retry)", cl_ns(job), cl_name(job), err.message);
}

static void ttl_reconcile(sim_cluster *c)
{
	json_t *jobs, *job;
	size_t i;

	cl_watch_delay(c);
	jobs = cl_list(c, cl_res_job, NULL, NULL);
	json_array_foreach (jobs, i, job)
		ttl_process_job(c, job);
	json_decref(jobs);
}

int sim_ttl_start(sim_cluster *c, vs_error *err)
{
	return cl_spawn(c, "ttl-after-finished", ttl_reconcile, NULL, 1000, err);
}
