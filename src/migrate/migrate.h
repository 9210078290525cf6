/*
 * migrate: the storage-class engine. It plans first, with a pure function from the cluster's
 * objects to a plan (testable without a cluster), then executes the plan group by group.
 *
 * Ownership: a vs_plan and everything in it belong to the plan (vs_plan_free); strings in it are
 * owned copies. Inputs are borrowed.
 */
#ifndef VS_MIGRATE_H
#define VS_MIGRATE_H

#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- planning -------------------------------------------------------------------------------- */

/* The listed objects a plan is made from: each a List object ({"items": [...]}) or NULL. Borrowed. */
typedef struct vs_plan_input {
	const json_t *storage_classes;
	const json_t *pvs;
	const json_t *pvcs;
	const json_t *pods;
	const json_t *replicasets;
	const json_t *deployments;
	const json_t *statefulsets;
	const json_t *daemonsets;
	const json_t *jobs;
	const json_t *cronjobs;
} vs_plan_input;

typedef struct vs_plan_opts {
	const char *source_sc;           /* required */
	const char *dest_sc;             /* required */
	const char *namespace;           /* NULL: every namespace */
	const char *const *pvcs;         /* "NAMESPACE/NAME" filters, or NULL */
	size_t npvcs;
	const char *selector;            /* label selector on claims, or NULL */
	bool skip_source_validation;     /* the source class may be missing */
	bool set_defaults;               /* make the destination the default class */
	bool delete_bare_pods;           /* pods with no controller may be deleted (they are not recreated) */
} vs_plan_opts;

enum vs_workload_kind {
	VS_WORKLOAD_DEPLOYMENT,
	VS_WORKLOAD_STATEFULSET,
	VS_WORKLOAD_REPLICASET,
	VS_WORKLOAD_DAEMONSET,
	VS_WORKLOAD_CRONJOB,
	VS_WORKLOAD_JOB,
	VS_WORKLOAD_POD,
};

/* "Deployment", "StatefulSet", ... Static. */
const char *vs_workload_kind_name(enum vs_workload_kind kind);

/* Something that uses migrated claims and must be stopped while they are switched. */
typedef struct vs_plan_workload {
	enum vs_workload_kind kind;
	char *ns;
	char *name;
	long replicas;      /* the scale to restore (Deployment, StatefulSet, ReplicaSet); else 0 */
	bool running;       /* a Job with active pods, or a bare pod */
} vs_plan_workload;

/* One claim to move. */
typedef struct vs_plan_pvc {
	char *ns;
	char *name;
	char *uid;
	char *pv;               /* the source volume */
	char *request;          /* the source claim's storage request ("10Gi") */
	char *capacity;         /* the source volume's capacity */
	json_t *access_modes;   /* the source claim's modes (array, owned) */
	char *dest_access_mode; /* from kurl.sh/pvcmigrate-destinationaccessmode, or NULL */
	char *node;             /* the node a node-local source volume is on, or NULL */
	char *temp_name;        /* the destination claim while copying: NAME-pvcmigrate (shortened) */
	char *copy_pod;         /* the copy pod: migrate-NAME (shortened) */
	size_t group;           /* index into vs_plan.groups */
} vs_plan_pvc;

/* Claims that must be switched together, and the workloads to stop while they are. */
typedef struct vs_plan_group {
	size_t *pvcs;       /* indexes into vs_plan.pvcs */
	size_t npvcs;
	size_t *workloads;  /* indexes into vs_plan.workloads */
	size_t nworkloads;
} vs_plan_group;

/* Why a claim (or the whole migration, when name is NULL) cannot be migrated. */
typedef struct vs_plan_problem {
	char *ns;     /* NULL for the whole migration */
	char *name;
	char *reason;
} vs_plan_problem;

typedef struct vs_plan {
	vs_plan_pvc *pvcs;
	size_t npvcs;
	vs_plan_workload *workloads;
	size_t nworkloads;
	vs_plan_group *groups;
	size_t ngroups;
	vs_plan_problem *problems;   /* nothing may change while there are any */
	size_t nproblems;
	char **warnings;             /* things skipped on purpose (a PV without a claim, ...) */
	size_t nwarnings;
	char *current_default;       /* the default class now, or NULL */
	bool change_default;         /* --set-defaults will move the default to the destination */
} vs_plan;

/*
 * Build the plan for moving every claim of opts->source_sc to opts->dest_sc from the listed
 * objects: PVs of the source class, their claims (filtered by namespace, --pvc and selector), the
 * pods that mount them and the workloads that control those pods (through ownerReferences),
 * grouped so that claims used together are switched together. Problems that forbid the migration
 * are collected in plan->problems rather than returned as errors, so that preflight can show all of
 * them at once. Errors: VS_EINVAL only for unusable options (a bad selector or --pvc). *out is
 * owned by the caller (vs_plan_free).
 */
int vs_plan_build(const vs_plan_input *in, const vs_plan_opts *opts, vs_plan **out, vs_error *err);

/* Free a plan; NULL is fine. */
void vs_plan_free(vs_plan *plan);

/* The plan as JSON (for --dry-run --output json and the journal). Caller owns the result. */
json_t *vs_plan_to_json(const vs_plan *plan);

/* A Kubernetes object name derived from base and suffix, at most 63 characters: base+suffix when
 * it fits, else a shortened base, a hash of base, and suffix. Caller frees. */
char *vs_plan_derived_name(const char *base, const char *suffix);

#endif
