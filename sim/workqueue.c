/*
 * workqueue: the work queue of client-go (k8s.io/client-go/util/workqueue) for volshift-sim's
 * controllers, with its semantics, which decide how a controller reacts to a burst of events: a key
 * is queued at most once however often it is added; a key added while a worker processes it is
 * processed again once that worker is done with it, never by two workers at once. Keys may also be
 * added after a delay, or after the per-key exponential delay of a rate-limited retry.
 */
#include "cluster_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void cl_wq_init(cl_wq *q, int64_t retry_base_ms, int64_t retry_max_ms)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	vs_cond_init_monotonic(&q->cond);
	q->queue = json_array();
	q->dirty = json_object();
	q->processing = json_object();
	q->later = json_array();
	q->failures = json_object();
	q->retry_base_ms = retry_base_ms;
	q->retry_max_ms = retry_max_ms;
}

void cl_wq_destroy(cl_wq *q)
{
	json_decref(q->queue);
	json_decref(q->dirty);
	json_decref(q->processing);
	json_decref(q->later);
	json_decref(q->failures);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->mu);
}

/* Type.Add: mark dirty; queue it unless it is already queued or a worker has it. Lock held. */
static void add_locked(cl_wq *q, const char *key)
{
	if (q->shutdown || json_object_get(q->dirty, key))
		return;
	json_object_set_new(q->dirty, key, json_true());
	if (json_object_get(q->processing, key))
		return;
	json_array_append_new(q->queue, json_string(key));
	pthread_cond_signal(&q->cond);
}

void cl_wq_add(cl_wq *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	add_locked(q, key);
	pthread_mutex_unlock(&q->mu);
}

void cl_wq_add_after(cl_wq *q, const char *key, int64_t delay_ms)
{
	if (delay_ms <= 0) {
		cl_wq_add(q, key);
		return;
	}
	pthread_mutex_lock(&q->mu);
	if (!q->shutdown) {
		json_array_append_new(q->later, json_pack("{s:s, s:I}", "key", key,
							  "due", (json_int_t)(vs_time_mono_ms() + delay_ms)));
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->mu);
}

void cl_wq_add_rate_limited(cl_wq *q, const char *key)
{
	int64_t delay;
	json_int_t n;

	pthread_mutex_lock(&q->mu);
	n = json_integer_value(json_object_get(q->failures, key));
	json_object_set_new(q->failures, key, json_integer(n + 1));
	pthread_mutex_unlock(&q->mu);
	/* ItemExponentialFailureRateLimiter: base * 2^failures, capped */
	delay = q->retry_base_ms;
	for (json_int_t i = 0; i < n && delay < q->retry_max_ms; i++)
		delay *= 2;
	cl_wq_add_after(q, key, delay < q->retry_max_ms ? delay : q->retry_max_ms);
}

void cl_wq_forget(cl_wq *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	json_object_del(q->failures, key);
	pthread_mutex_unlock(&q->mu);
}

/* Queue the delayed keys that are due; the earliest due time left (or -1). Lock held. */
static int64_t promote_due_locked(cl_wq *q, int64_t now)
{
	int64_t next = -1;
	size_t i = 0;

	while (i < json_array_size(q->later)) {
		json_t *it = json_array_get(q->later, i);
		int64_t due = json_integer_value(json_object_get(it, "due"));
		if (due <= now) {
			add_locked(q, json_string_value(json_object_get(it, "key")));
			json_array_remove(q->later, i);
			continue;
		}
		if (next < 0 || due < next)
			next = due;
		i++;
	}
	return next;
}

char *cl_wq_get(cl_wq *q, int64_t timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : vs_time_mono_ms() + timeout_ms;
	char *key = NULL;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		int64_t now = vs_time_mono_ms(), next = promote_due_locked(q, now), until = deadline;
		struct timespec ts;
		if (json_array_size(q->queue) > 0 || q->shutdown || (deadline >= 0 && now >= deadline))
			break;
		if (next >= 0 && (until < 0 || next < until))
			until = next;
		if (until < 0) {
			pthread_cond_wait(&q->cond, &q->mu);
			continue;
		}
		vs_time_deadline(&ts, until - now);
		pthread_cond_timedwait(&q->cond, &q->mu, &ts);
	}
	if (!q->shutdown && json_array_size(q->queue) > 0) {
		key = vs_xstrdup(json_string_value(json_array_get(q->queue, 0)));
		json_array_remove(q->queue, 0);
		json_object_set_new(q->processing, key, json_true());
		json_object_del(q->dirty, key);
	}
	pthread_mutex_unlock(&q->mu);
	return key;
}

void cl_wq_done(cl_wq *q, const char *key)
{
	pthread_mutex_lock(&q->mu);
	json_object_del(q->processing, key);
	if (json_object_get(q->dirty, key) && !q->shutdown) {
		json_array_append_new(q->queue, json_string(key));
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->mu);
}

void cl_wq_shutdown(cl_wq *q)
{
	pthread_mutex_lock(&q->mu);
	q->shutdown = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->mu);
}

size_t cl_wq_len(cl_wq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = json_array_size(q->queue);
	pthread_mutex_unlock(&q->mu);
	return n;
}

void cl_wq_serve(cl_wq *q, void (*fn)(void *arg, const char *key), void *arg)
{
	char *key;

	while ((key = cl_wq_get(q, -1)) != NULL) {
		fn(arg, key);
		cl_wq_done(q, key);
		free(key);
	}
}
