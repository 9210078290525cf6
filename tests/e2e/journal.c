/*
 * End-to-end: a journal as large as a migration of many thousand claims, written and read back
 * through the journal library against a running volshift-sim ($KUBECONFIG), without migrating
 * real claims (tests/e2e/test_journal.sh):
 *   e2e_journal write N      a journal whose plan lists N claims, each with a copy step, a swap
 *                            intent and a saved original, written durably every 100 claims; its
 *                            id on stdout;
 *   e2e_journal resume ID N  open it (taking the lease), check that every claim's records are
 *                            there as written (N = 0: every claim that has one, counted on
 *                            stdout), then mark every swap done and the phase done.
 * Exit status 0 when every check held, 1 (with the first difference on stderr) when not.
 */
#include "journal/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EJ_NS	 "volshift-system"
#define EJ_BATCH 100

static char *ej_key(int i, const char *what)
{
	return vs_xasprintf("claim/ns/c%05d/%s", i, what);
}

/* Claim i's original as the journal saves it: about 1 KiB, like a listed claim. Caller owns. */
static json_t *ej_original(int i)
{
	char name[32], pad[800];

	snprintf(name, sizeof(name), "c%05d", i);
	memset(pad, 'a' + i % 26, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[s]}}", "apiVersion", "v1", "kind",
			 "PersistentVolumeClaim", "metadata", "name", name, "namespace", "ns", "annotations", "pad",
			 pad, "spec", "storageClassName", "local", "accessModes", "ReadWriteOnce");
}

static json_t *ej_plan(int n)
{
	json_t *plan = json_pack("{s:s, s:s, s:s, s:[]}", "kind", "e2e", "sourceClass", "local", "destClass", "shared",
				 "claims");

	for (int i = 0; i < n; i++)
		json_array_append_new(json_object_get(plan, "claims"), json_pack("{s:s, s:s+, s:s}", "namespace", "ns",
										 "name", "c", "laim", "node", ""));
	return plan;
}

/* Record claim i's steps and original; durable every EJ_BATCH claims and at the last. */
static int ej_write_claim(vs_journal *j, int i, bool last, vs_error *err)
{
	char *copy = ej_key(i, "copy"), *swap = ej_key(i, "swap"), *orig = ej_key(i, "original");
	json_t *extra = json_pack("{s:i}", "bytes", i), *obj = ej_original(i);
	bool durable = last || (i + 1) % EJ_BATCH == 0;
	int rc = vs_journal_save_object(j, orig, obj, false, err);

	if (rc == 0)
		rc = vs_journal_step(j, copy, VS_STEP_DONE, NULL, extra, false, err);
	if (rc == 0)
		rc = vs_journal_step(j, swap, VS_STEP_INTENT, NULL, NULL, durable, err);
	json_decref(extra);
	json_decref(obj);
	free(copy), free(swap), free(orig);
	return rc;
}

static int ej_write(vs_kube_client *c, int n, vs_error *err)
{
	json_t *plan = ej_plan(n);
	vs_journal *j = NULL;
	int rc = vs_journal_create(c, EJ_NS, plan, &j, err);

	for (int i = 0; rc == 0 && i < n; i++)
		rc = ej_write_claim(j, i, i + 1 == n, err);
	if (rc == 0)
		printf("%s\n", vs_journal_id(j));
	vs_journal_free(j);
	json_decref(plan);
	return rc;
}

/* Whether claim i's records are in j as written: 1 all, 0 none, -1 (err says which) otherwise. */
static int ej_check_claim(vs_journal *j, int i, vs_error *err)
{
	char *copy = ej_key(i, "copy"), *swap = ej_key(i, "swap"), *orig = ej_key(i, "original");
	const json_t *rec = vs_journal_step_record(j, copy), *saved = vs_journal_object(j, orig);
	const char *swap_state = vs_journal_step_state(j, swap);
	json_t *obj = ej_original(i);
	int rc = 1;

	if (!rec && !saved && !swap_state)
		rc = 0;
	else if (!rec || vs_json_int(rec, "bytes", -1) != i || strcmp(vs_json_str_or(rec, "state", ""), VS_STEP_DONE))
		rc = vs_error_set(err, VS_EIO, "claim %d: copy step %s", i, rec ? "differs" : "missing");
	else if (!saved || !json_equal((json_t *)saved, obj))
		rc = vs_error_set(err, VS_EIO, "claim %d: original %s", i, saved ? "differs" : "missing");
	else if (!swap_state || strcmp(swap_state, VS_STEP_INTENT) != 0)
		rc = vs_error_set(err, VS_EIO, "claim %d: swap step %s", i, swap_state ? swap_state : "missing");
	json_decref(obj);
	free(copy), free(swap), free(orig);
	return rc;
}

/* Check j's claims (want of them; 0: as many as there are, counted on stdout), then finish it. */
static int ej_check(vs_journal *j, int want, vs_error *err)
{
	int n = 0, rc = 0, got;
	size_t planned = json_array_size(json_object_get(vs_journal_plan(j), "claims"));

	if (want && planned != (size_t)want)
		return vs_error_set(err, VS_EIO, "the plan lists %zu claims, not %d", planned, want);
	for (int i = 0; rc == 0 && i < (int)planned; i++) {
		got = ej_check_claim(j, i, err);
		if (got < 0 || (want && got == 0))
			rc = got < 0 ? got : vs_error_set(err, VS_EIO, "claim %d: no records", i);
		n += got > 0;
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		char *swap = ej_key(i, "swap");
		rc = vs_journal_step(j, swap, VS_STEP_DONE, NULL, NULL, false, err);
		free(swap);
	}
	if (rc == 0)
		rc = vs_journal_set_phase(j, "done", NULL, err);
	if (rc == 0)
		printf("%d\n", n);
	return rc;
}

int main(int argc, char **argv)
{
	vs_kube_config *cfg = NULL;
	vs_kube_client *c = NULL;
	vs_journal *j = NULL;
	vs_error err = { 0 };
	int rc = VS_EINVAL;

	if (argc < 3 || (strcmp(argv[1], "write") != 0 && (strcmp(argv[1], "resume") != 0 || argc < 4))) {
		fprintf(stderr, "usage: e2e_journal write N | resume ID N\n");
		return 2;
	}
	if (vs_kube_config_load(NULL, &cfg, &err) < 0 || vs_kube_client_new(cfg, NULL, &c, &err) < 0)
		goto done;
	if (strcmp(argv[1], "write") == 0)
		rc = ej_write(c, atoi(argv[2]), &err);
	else if ((rc = vs_journal_open(c, EJ_NS, argv[2], false, &j, &err)) == 0)
		rc = ej_check(j, atoi(argv[3]), &err);
done:
	if (rc < 0)
		fprintf(stderr, "e2e_journal: %s\n", err.message);
	vs_journal_free(j);
	vs_kube_client_free(c);
	vs_kube_config_free(cfg);
	return rc < 0 ? 1 : 0;
}
