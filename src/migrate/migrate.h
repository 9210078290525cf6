/*
 * migrate: the storage-class engine. It plans first, with a pure function from the cluster's
 * objects to a plan (testable without a cluster), then executes the plan group by group.
 *
 * Ownership: a vs_plan and everything in it belong to the plan (vs_plan_free); strings in it are
 * owned copies. Inputs are borrowed.
 */
#ifndef VS_MIGRATE_H
#define VS_MIGRATE_H

#include "kube/kube.h"
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
	const json_t *nodes;
	const json_t *csi_capacities; /* CSIStorageCapacity objects; NULL when the cluster has none */
} vs_plan_input;

typedef struct vs_plan_opts {
	const char *source_sc;	 /* required */
	const char *dest_sc;	 /* required */
	const char *namespace;	 /* NULL: every namespace */
	const char *const *pvcs; /* "NAMESPACE/NAME" filters, or NULL */
	size_t npvcs;
	const char *selector;	     /* label selector on claims, or NULL */
	bool skip_source_validation; /* the source class may be missing */
	bool set_defaults;	     /* make the destination the default class */
	bool delete_bare_pods;	     /* pods with no controller may be deleted (they are not recreated) */
	bool skip_free_space_check;  /* --skip-free-space-check: neither CSIStorageCapacity nor df */
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
	long replicas; /* the scale to restore (Deployment, StatefulSet, ReplicaSet); else 0 */
	bool running;  /* a Job with active pods, or a bare pod */
} vs_plan_workload;

/* One claim to move. */
typedef struct vs_plan_pvc {
	char *ns;
	char *name;
	char *uid;
	char *pv;		/* the source volume */
	char *request;		/* the source claim's storage request ("10Gi") */
	char *capacity;		/* the source volume's capacity */
	json_t *access_modes;	/* the source claim's modes (array, owned) */
	char *dest_access_mode; /* from kurl.sh/pvcmigrate-destinationaccessmode, or NULL */
	char *node;		/* the node a node-local source volume is on, or NULL */
	char *temp_name;	/* the destination claim while copying: NAME-pvcmigrate (shortened) */
	char *copy_pod;		/* the copy pod: migrate-NAME (shortened) */
	char *warm_node;	/* where a warm copy runs (the application's node), or NULL: anywhere */
	char *cold_reason;	/* why this claim gets no warm copy, or NULL */
	size_t group;		/* index into vs_plan.groups */
} vs_plan_pvc;

/* Claims that must be switched together, and the workloads to stop while they are. */
typedef struct vs_plan_group {
	size_t *pvcs; /* indexes into vs_plan.pvcs */
	size_t npvcs;
	size_t *workloads; /* indexes into vs_plan.workloads */
	size_t nworkloads;
} vs_plan_group;

/* How the free-space check learns what room the destination class has (space.c). */
enum vs_space_method {
	VS_SPACE_SKIPPED, /* --skip-free-space-check */
	VS_SPACE_UNKNOWN, /* nothing tells: not checked (vs_plan_space.why says why) */
	VS_SPACE_CSI,	  /* the class publishes CSIStorageCapacity: checked by the plan itself */
	VS_SPACE_NODE,	  /* node-local volumes under a base directory: a pod per node measures it */
};

/* The free-space check of a plan, as the plan decided it. */
typedef struct vs_plan_space {
	enum vs_space_method method;
	char *provisioner; /* the destination class's, or NULL */
	char *base_dir;	   /* VS_SPACE_NODE: the directory the provisioner makes volumes under */
	char *why;	   /* VS_SPACE_NODE: where base_dir was found; VS_SPACE_UNKNOWN: why no check */
	char **nodes;	   /* the nodes where a copy pod not pinned to a node may land (not cordoned,
			      no NoSchedule or NoExecute taint) */
	size_t nnodes;
} vs_plan_space;

/* Why a claim (or the whole migration, when name is NULL) cannot be migrated. */
typedef struct vs_plan_problem {
	char *ns; /* NULL for the whole migration */
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
	vs_plan_problem *problems; /* nothing may change while there are any */
	size_t nproblems;
	char **warnings; /* things skipped on purpose (a PV without a claim, ...) */
	size_t nwarnings;
	char *current_default; /* the default class now, or NULL */
	bool change_default;   /* --set-defaults will move the default to the destination */
	vs_plan_space space;   /* how the free-space check is made (not kept in the journal) */
} vs_plan;

/*
 * Build the plan for moving every claim of opts->source_sc to opts->dest_sc from the listed
 * objects: PVs of the source class, their claims (filtered by namespace, --pvc and selector), the
 * pods that mount them and the workloads that control those pods (through ownerReferences),
 * grouped so that claims used together are switched together. Problems that forbid the migration
 * are collected in plan->problems rather than returned as errors, so that preflight can show all of
 * them at once; claims of the source class that are not bound to a volume yet (Pending) are
 * warnings, or problems when --pvc names them. Errors: VS_EINVAL only for unusable options (a bad
 * selector, a --pvc that is not NAMESPACE/NAME, names no claim, or names a claim that is not of
 * the source class or that --namespace or --selector leave out). *out is owned by the caller
 * (vs_plan_free).
 */
int vs_plan_build(const vs_plan_input *in, const vs_plan_opts *opts, vs_plan **out, vs_error *err);

/* The checks of vs_plan_build on --pvc alone (in needs only pvcs and pvs): VS_EINVAL naming a --pvc
 * that is not NAMESPACE/NAME, names no claim, or names one that is not of the source class or that
 * --namespace or --selector leave out (or a bad --selector). */
int vs_plan_check_pvcs(const vs_plan_input *in, const vs_plan_opts *opts, vs_error *err);

/* Record a problem (ns and name NULL for the whole migration); the strings are copied. */
void vs_plan_add_problem(vs_plan *plan, const char *ns, const char *name, const char *reason);

/* The access modes p's destination claim gets: the annotation's mode, else the source claim's.
 * Caller owns the array. */
json_t *vs_plan_dest_modes(const vs_plan_pvc *p);
/* Access modes joined with commas ("ReadWriteOnce,ReadWriteMany"). Caller frees. */
char *vs_plan_modes_text(const json_t *modes);

/* The scale recorded in a stopped workload's VS_MIGRATE_SCALE_ANNOTATION, else fallback. */
long vs_plan_scale_to_restore(const json_t *obj, long fallback);

/* True when a pod spec (a pod's or a template's) has a volume naming claim. */
bool vs_plan_spec_mounts(const json_t *pod_spec, const char *claim);

/* Free a plan; NULL is fine. */
void vs_plan_free(vs_plan *plan);

/* The plan as JSON (for --dry-run --output json and the journal). Caller owns the result. */
json_t *vs_plan_to_json(const vs_plan *plan);

/* The plan back from vs_plan_to_json's output (a journal's frozen plan); problems are not kept.
 * VS_EINVAL naming what is missing. *out owned by the caller. */
int vs_plan_from_json(const json_t *json, vs_plan **out, vs_error *err);

/* A Kubernetes object name derived from base and suffix, at most 63 characters: base+suffix when
 * it fits, else a shortened base, a hash of base, and suffix. Caller frees. */
char *vs_plan_derived_name(const char *base, const char *suffix);

/* ---- free space (space.c) --------------------------------------------------------------------- */

/*
 * The directory under which class sc's (borrowed) provisioner makes its node-local volumes, the
 * same path on every node: the annotation VS_MIGRATE_BASE_PATH_ANNOTATION (anyone may set it on
 * any class), the BasePath of OpenEBS Local PV's cas.openebs.io/config annotation (provisioner
 * openebs.io/local; OpenEBS's default /var/openebs/local when it names none), or the class's
 * parameter basePath (volshift-sim's local class). NULL when none says; *from (static) says where
 * it was found. Caller frees.
 */
char *vs_space_base_dir(const json_t *sc, const char **from);

/* The node where plan pvc p's destination volume will be made (where its first copy pod runs:
 * beside its application for a warm copy, else the source volume's node), or NULL: wherever the
 * scheduler puts it. Borrowed. */
const char *vs_space_target_node(const vs_plan_pvc *p, bool warm_copy);

/* df -Pk output (the line of the filesystem: its size, used and available 1024-blocks): the bytes
 * available to the pod's user and the filesystem's size. VS_EINVAL quoting the output otherwise. */
int vs_space_parse_df(const char *output, int64_t *avail, int64_t *size, vs_error *err);

/* What the free-space pod measured on one node, and what the plan needs there. */
typedef struct vs_space_node {
	const char *node;    /* borrowed */
	int64_t avail, size; /* measured: bytes available under the base directory, filesystem size */
	int64_t placed;	     /* out: the capacity of the claims whose volumes will be made there */
	int64_t anywhere;    /* out: ... of claims that may land on any node, when this is one of them */
	bool fits;	     /* out: placed + anywhere <= avail */
	bool low;	     /* out: fits, but leaves less than VS_SPACE_RESERVE_PERCENT of size free */
} vs_space_node;

/* Kubelet's default hard eviction threshold for a node's filesystem (nodefs.available<10%). */
#define VS_SPACE_RESERVE_PERCENT 10

/*
 * Judge the n measured nodes for plan (warm_copy as the run's option): every claim whose volume
 * will be made on a node that lacks the room for it and the others made there gets a problem,
 * and every claim that may land on any node gets one when any of plan->space.nodes lacks the room
 * for all such claims besides its own (the scheduler does not know a base directory's free space,
 * so they may all land on the smallest; pvmigrate's rule). Fills each node's out fields. Pure.
 */
void vs_space_judge(vs_plan *plan, bool warm_copy, vs_space_node *nodes, size_t n);

/* ---- the annotations and labels volshift writes (pvmigrate's, so either tool can resume) ---- */

#define VS_MIGRATE_LABEL		    "kurl.sh/pvcmigrate" /* on temporary claims and copy pods */
#define VS_MIGRATE_ACCESS_ANNOTATION	    "kurl.sh/pvcmigrate-destinationaccessmode" /* set by users on claims */
#define VS_MIGRATE_DEFAULT_CLASS_ANNOTATION "storageclass.kubernetes.io/is-default-class"
#define VS_MIGRATE_KIND_LABEL		    "kurl.sh/pvcmigrate-kind"	 /* "dest" on temporary claims */
#define VS_MIGRATE_SCALE_ANNOTATION	    "kurl.sh/pvcmigrate-scale"	 /* a stopped workload's original scale */
#define VS_MIGRATE_RECLAIM_ANNOTATION	    "kurl.sh/pvcmigrate-reclaim" /* reclaim policy to give the new PV */
#define VS_MIGRATE_OWN_RECLAIM_ANNOTATION   "volshift.io/original-reclaim-policy" /* a PV's own, before Retain */
#define VS_MIGRATE_NODE_SELECTOR_ANNOTATION "volshift.io/original-node-selector"  /* a stopped DaemonSet's */
#define VS_MIGRATE_SUSPEND_ANNOTATION	    "volshift.io/original-suspend"	  /* a stopped CronJob's */
#define VS_MIGRATE_STOP_NODE_LABEL	    "volshift.io/stopped-for-migration"	  /* matches no node */

/* Every object volshift creates carries VS_MIGRATE_MANAGED_BY_LABEL: VS_MIGRATE_MANAGED_BY, and
 * says what it belongs to: copy pods and destination claims the migration (its journal's id, the
 * key the journal's ConfigMap carries too); the claim, pod, volume and Lease of an access-mode
 * probe its probe (its name, volshift-probe-XXXXXXXX), and the claim and pod also the volshift
 * process that made them (a random id per process; the probe's Lease says where that process runs,
 * see probe.c). Nothing is deleted as a probe's unless its labels say it is one. */
#define VS_MIGRATE_MANAGED_BY_LABEL	 "app.kubernetes.io/managed-by"
#define VS_MIGRATE_MANAGED_BY		 "volshift"
#define VS_MIGRATE_ID_LABEL		 "volshift.io/migration"       /* copy pods, destination claims */
#define VS_MIGRATE_OWNER_ANNOTATION	 "volshift.io/migration"       /* a claim being migrated: "NS/ID" */
#define VS_MIGRATE_PROBE_LABEL		 "volshift.io/probe"	       /* a probe's claim, pod, volume and Lease */
#define VS_MIGRATE_PROBE_OWNER_LABEL	 "volshift.io/probe-owner"     /* a probe's claim, pod and Lease */
#define VS_MIGRATE_PROBE_NAMESPACE_LABEL "volshift.io/probe-namespace" /* a probe's volume: its claim's namespace */
#define VS_MIGRATE_PROBE_PREFIX		 "volshift-probe-"	       /* every probe's name starts so */
#define VS_MIGRATE_FREE_SPACE_LABEL	 "volshift.io/free-space"      /* a free-space pod (df on a node) */
#define VS_MIGRATE_BASE_PATH_ANNOTATION	 "volshift.io/base-path"       /* a class's node-local directory */

/* ---- the cluster's objects ------------------------------------------------------------------- */

typedef struct vs_kube_client vs_kube_client;
typedef struct vs_journal vs_journal;

/* The objects a plan is made from, listed once. Owns its lists; in points into them. */
typedef struct vs_migrate_snapshot {
	vs_plan_input in;
	json_t *lists[12];
} vs_migrate_snapshot;

/* List everything a plan needs, in every namespace (a volume's claim may live anywhere; --namespace
 * filters in the plan). A cluster without CSIStorageCapacity leaves in.csi_capacities NULL.
 * Free with vs_migrate_snapshot_clear. */
int vs_migrate_snapshot_take(vs_kube_client *c, vs_migrate_snapshot *out, vs_error *err);
void vs_migrate_snapshot_clear(vs_migrate_snapshot *snap);

/* ---- running a migration --------------------------------------------------------------------- */

/* How a copy is checked before its claim is switched (--verify): an rsync dry run must find no
 * difference between the source and the destination. */
enum vs_verify_mode {
	VS_VERIFY_SIZE_TIME, /* rsync's quick check: every entry's size, time and attributes (the default) */
	VS_VERIFY_CHECKSUM,  /* also every file's content, read on both sides (rsync --checksum) */
};

/* "size-time" or "checksum". Static. */
const char *vs_verify_mode_name(enum vs_verify_mode mode);
/* The mode named name (vs_verify_mode_name's words); VS_EINVAL naming the value and the choices. */
int vs_verify_mode_parse(const char *name, enum vs_verify_mode *out, vs_error *err);

/* The most groups in flight that --parallel accepts. */
#define VS_MIGRATE_MAX_PARALLEL 64

/* The groups in flight when none is asked for: two per node that takes pods (each node copies two
 * volumes at a time, one reading while the other waits on the API), at least 1 and at most 8. */
unsigned vs_migrate_default_parallel(const vs_plan_input *in);

typedef struct vs_migrate_opts {
	vs_plan_opts plan;
	const char *rsync_image;	/* image of copy and probe pods; must have rsync and sh */
	const char *const *rsync_flags; /* extra rsync arguments, appended; borrowed */
	size_t nrsync_flags;
	bool verbose_copy;	      /* stream rsync's output as "copy-log" events */
	bool keep_statefulsets;	      /* do not recreate StatefulSets with the destination class */
	enum vs_verify_mode verify;   /* how each copy is checked before its swap */
	int64_t pod_ready_timeout_ms; /* probe and copy pods must be running within this */
	int64_t delete_pv_timeout_ms; /* claims and volumes must bind, release and go within this */
	int64_t ready_timeout_ms;     /* workloads must be ready again within this */
	unsigned parallel;	      /* groups in flight at once (>= 1) */
	bool warm_copy;		      /* copy while the applications run, then only the changes */
} vs_migrate_opts;

/*
 * Events are how a migration talks to people and machines: a JSON object with "event" (its type),
 * "time" (RFC 3339) and fields of its own. Every event sent while a group is worked on also has
 * "group" (1-based) and "groups" (their number). Types: "stage" {message}, "probe" {mode, ok,
 * message}, "group-start" {namespace, claims, workloads}, "group-phase" {phase: dest, warm, stop,
 * final, copy, verify, swap, start}, "group-done" {ms, downtimeMs {"Kind ns/name": ms}},
 * "group-failed" {message}, "workload-stopped" {kind, namespace, name, replicas},
 * "workload-ready" {kind, namespace, name, downtimeMs}, "waiting" {message}, "copy-start"
 * {namespace, pvc, node, pass: warm|final|cold, passNumber}, "copy-progress" {namespace, pvc, bytes,
 * percent, rate, eta, files, filesTotal, pass, passNumber}, "copy-log" {namespace, pvc, line},
 * "copy-done" {namespace, pvc, bytes (the tree), transferred (sent by this pass), files, ms, pass,
 * passNumber}, "verify-start" {namespace, pvc, mode, attempt}, "verify-done" {namespace, pvc, mode,
 * attempt, files, differences, paths (the first few), ms}, "swapped" {namespace, pvc, oldPv,
 * newPv}, "pv-deleted" {pv, reclaim}, "statefulset-recreated" {namespace, name}, "default-class"
 * {from, to}, "warning" {message}, "probe-removed" and "probe-kept" {namespace, name, reason} (an
 * access-mode probe another volshift left: removed, or left alone because its volshift runs), "done"
 * {pvcs, bytes, ms, apiRequests, parallel (the groups that could be in flight)}. The event is
 * borrowed for the call; calls never overlap (groups in flight take turns).
 */
typedef void (*vs_migrate_event_fn)(const json_t *event, void *ctx);

/*
 * The permissions a migration needs (deploy/clusterrole.yaml and deploy/role.yaml grant exactly
 * these): up to n of them into out, the journal's (configmaps) in state_ns and every other one in
 * all namespaces (ns NULL). Returns how many there are in all. The strings are static.
 */
size_t vs_migrate_access_needed(const char *state_ns, vs_kube_access *out, size_t n);

/* missing (n permissions, consecutive ones of one resource and namespace merged into one rule) as
 * RBAC rules, one per line: "  - {apiGroups: [""], resources: [pods], verbs: [get, list]}  # ...".
 * The caller frees the text. */
char *vs_migrate_access_rules_text(const vs_kube_access *missing, size_t n);

/*
 * Ask the API server (SelfSubjectAccessReview) for every permission of vs_migrate_access_needed,
 * changing nothing. 0 when all are granted (*missing_rules NULL). When some are not: VS_EAPI with
 * reason Forbidden and a message that says nothing was changed, and *missing_rules the rules to
 * add (vs_migrate_access_rules_text), owned by the caller. Other errors: those of vs_kube_can_i.
 */
int vs_migrate_access_check(vs_kube_client *c, const char *state_ns, char **missing_rules, vs_error *err);

/*
 * Preflight on the live cluster: for every distinct set of access modes the destination claims
 * need, create a small claim of the destination class and a pod that mounts it, wait up to
 * pod_ready_timeout_ms for the pod to run, and delete both (and the volume they made). A mode that
 * does not work becomes a problem on each claim that needs it. Returns an error only when the
 * probe could not be run or cleaned up.
 */
int vs_migrate_preflight(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, vs_migrate_event_fn fn,
			 void *ctx, vs_error *err);

/*
 * The free-space check before anything changes (skipped by opts->plan.skip_free_space_check, as
 * the plan already knows): for a node-local destination (plan->space.method VS_SPACE_NODE), a pod
 * on every node where a destination volume may be made ("default" namespace, the base directory
 * mounted read-only by hostPath, running df) measures the free space there, the pod removed
 * afterwards; claims that cannot fit become problems (vs_space_judge). Otherwise one event says
 * how the check was made, or why not: CSIStorageCapacity was checked by the plan; a class that
 * publishes nothing and names no base directory cannot be checked. dry_run: nothing is run, and a
 * line says so. Events: "stage", "note", "free-space" {node, path, free, need, ok} per node,
 * "warning". Errors: a pod that cannot run or whose output is not df's, naming the node (nothing
 * changed but that pod, which is removed).
 */
int vs_migrate_free_space(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, bool dry_run,
			  vs_migrate_event_fn fn, void *ctx, vs_error *err);

/*
 * Access-mode probes left behind, one JSON object per probe (owned by the caller in *out, an
 * array): {namespace, name, claim {uid, phase, volume} or null, pod {phase} or null, volumes
 * [{name, reclaimPolicy, phase}], lease {holder, renewTime, leaseDurationSeconds} or null, legacy
 * (made by a volshift before the probe labels: nothing says whose it is), holderState "gone" (its
 * volshift has ended, or its Lease is gone), "unknown" (its volshift runs elsewhere: only its
 * Lease's renewals tell, see vs_migrate_probe_cleanup) or "legacy",
 * holderReason (in words), remove (the kubectl commands that remove it by hand, in order)}.
 * Found by their labels (legacy ones: named volshift-probe-* and labelled managed-by volshift),
 * volumes also by their claimRef naming such a claim (uid included). The probes of a volshift that
 * runs on this machine are not leftovers, and are left out. Errors name what could not be listed.
 * Changes nothing.
 */
int vs_migrate_probe_leftovers(vs_kube_client *c, json_t **out, vs_error *err);

/*
 * Remove the access-mode probes whose volshift is gone: pod, claim, the volume it provisioned (a
 * Delete one goes with its claim; any other is deleted), then its Lease. A probe whose volshift
 * runs on this machine is left alone; one whose volshift runs elsewhere is left alone if its Lease
 * is renewed within its duration as this process's own clock measures it (waiting that long at
 * most, for every such probe at once), and taken over otherwise. Legacy probes are only named,
 * with the commands that remove them. Every removal and every failure is an event ("probe-removed",
 * "probe-kept", "warning"): nothing here fails the command. opts gives the timeouts.
 */
void vs_migrate_probe_cleanup(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_event_fn fn, void *ctx);

/*
 * Execute a plan without problems, up to opts->parallel groups at once, each in a thread of its
 * own: create the destination claims, copy each claim while its applications run (opts->warm_copy,
 * in passes while what changed shrinks), stop the group's workloads (recording their scale), copy
 * each claim with an rsync pod (only what changed after a warm copy) and verify the copy
 * (opts->verify; differences left after one more copy fail the group), swap the volumes under the
 * original claim names, restart the workloads and wait until they are ready, then
 * (change_default) move the default class. Every step is recorded in journal j (borrowed) before
 * it runs and once its effect is observed, and objects that are deleted and recreated are saved in
 * it first; given the same journal again (resume), finished groups and swaps are skipped and every
 * other step checks the live cluster before acting. At no point is a volume that may hold the last
 * copy of data deleted: see swap.c. Before each group, an abort requested in the journal stops the
 * run (VS_ECANCEL; groups in flight finish); a group that fails lets those in flight finish and
 * starts no other. Errors name the claim or workload and the cause.
 */
int vs_migrate_execute(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j,
		       vs_migrate_event_fn fn, void *ctx, vs_error *err);

/*
 * Finish what pvmigrate left half-done in the swap of a claim, from its annotations alone: a
 * volume of opts' destination class marked kurl.sh/pvcmigrate-sourcens/-sourcepvc whose claim
 * name is gone gets the name back (recreated from the volume), its recorded reclaim policy, and
 * the workloads that mount it their recorded scale. The original volume is left as it is (Retain).
 * Run before planning; a cluster without pvmigrate's marks is not changed.
 */
int vs_migrate_adopt_pvmigrate(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_event_fn fn, void *ctx,
			       vs_error *err);

/*
 * Roll back the migration recorded in j (plan and opts as it was started with; all borrowed).
 * Every group whose workloads have not started on the destination is put back as it was: copy
 * pods and destination claims deleted, a swap that began undone (the name back on the original
 * volume, which was kept Retain, and the copy released), reclaim policies restored, workloads back
 * at their recorded scale, node selector or suspension; the default class moved back. Groups whose
 * workloads started on the destination may have new data there: their claims are left where they
 * are and listed in *kept (a JSON array of "NS/NAME", owned by the caller), because rolling them
 * back is a migration in the other direction. Journaled step by step (an interrupted rollback is
 * run again); the phase ends "rolled-back" (or "rollback-failed").
 */
int vs_migrate_rollback(vs_kube_client *c, const vs_migrate_opts *opts, const vs_plan *plan, vs_journal *j,
			vs_migrate_event_fn fn, void *ctx, json_t **kept, vs_error *err);

/* ---- a migration from its options to a journaled run (workflow.c) ------------------------------ */

/* The copy pods' image when none is given (pvmigrate's). */
#define VS_MIGRATE_DEFAULT_IMAGE "eeacms/rsync:2.3"

/* o with volshift migrate's defaults: the default image, the timeouts, the warm copy on, size-time
 * verification; no classes, parallel 0 (chosen by vs_migrate_plan_live). */
void vs_migrate_opts_init(vs_migrate_opts *o);

/* What failed before a migration started. */
enum vs_migrate_stage {
	VS_MIGRATE_STAGE_OK,
	VS_MIGRATE_STAGE_CLUSTER,   /* reading the cluster */
	VS_MIGRATE_STAGE_OPTIONS,   /* the options (vs_plan_build refused them) */
	VS_MIGRATE_STAGE_SPACE,	    /* the free-space check */
	VS_MIGRATE_STAGE_PREFLIGHT, /* the access-mode probes */
};

/* Plan opts on the live cluster (snapshot, then vs_plan_build: problems are in the plan) into *out
 * (caller frees); *run receives opts with parallel chosen when it was 0. *failed says what failed:
 * reading the cluster or the options. */
int vs_migrate_plan_live(vs_kube_client *c, const vs_migrate_opts *opts, vs_migrate_opts *run, vs_plan **out,
			 enum vs_migrate_stage *failed, vs_error *err);
/* Before anything changes: the free-space check, then (unless dry_run or skip_preflight) the
 * preflight probes; problems found go into plan, a check that could not be made fails (*failed
 * says which). */
int vs_migrate_check(vs_kube_client *c, const vs_migrate_opts *opts, vs_plan *plan, bool dry_run, bool skip_preflight,
		     vs_migrate_event_fn fn, void *ctx, enum vs_migrate_stage *failed, vs_error *err);

/* The journal of a new migration in ns, freezing plan and opts (what resume and rollback read back).
 * *out caller frees. */
int vs_migrate_journal_start(vs_kube_client *c, const char *ns, const vs_migrate_opts *opts, const vs_plan *plan,
			     vs_journal **out, vs_error *err);

/* A recorded migration opened for resume or rollback: its journal (lease held), plan and options
 * (whose strings point into the journal). */
typedef struct vs_migrate_recorded {
	vs_journal *j;
	vs_plan *plan;
	vs_migrate_opts opts;
} vs_migrate_recorded;
/* Open migration id in ns (force takes the lease over) into *m; on error *m is empty. */
int vs_migrate_open(vs_kube_client *c, const char *ns, const char *id, bool force, vs_migrate_recorded *m,
		    vs_error *err);
/* Release what vs_migrate_open took; an empty *m is fine. */
void vs_migrate_recorded_close(vs_migrate_recorded *m);

/* The id of the newest migration in ns between these classes that did not finish (running, failed
 * or aborted), or NULL (also when the journals cannot be read). Caller frees. */
char *vs_migrate_find_unfinished(vs_kube_client *c, const char *ns, const char *source_sc, const char *dest_sc);

/* The options a journal keeps so that resume runs with the same ones (caller owns the JSON). */
json_t *vs_migrate_opts_to_json(const vs_migrate_opts *opts);
/* Options back from vs_migrate_opts_to_json's output; strings and the flag array point into json
 * (borrowed: json must outlive out), except out->rsync_flags, an array the caller frees. */
int vs_migrate_opts_from_json(const json_t *json, vs_migrate_opts *out, vs_error *err);

/* ---- rsync's progress (pure, exposed for tests) ----------------------------------------------- */

typedef struct vs_rsync_progress {
	int64_t bytes;	 /* bytes transferred so far */
	int percent;	 /* 0..100 */
	char rate[24];	 /* "28.46MB/s" */
	char eta[16];	 /* "0:00:12" */
	long files_done; /* xfr#N */
	long files_left; /* to-chk=LEFT/TOTAL */
	long files_total;
} vs_rsync_progress;

/* Parse one line of rsync --info=progress2 output; false when the line is something else. */
bool vs_rsync_parse_progress(const char *line, vs_rsync_progress *out);

/*
 * One line of rsync's itemized output ("%i %n%L": rsync 3's 11-character YXcstpoguax, a space, the
 * name): true when it reports a difference between sender and receiver, with *name pointing into
 * line at the entry's name (and " -> target" or " => target" after it, as rsync prints them).
 * False for any other line (statistics, messages), for an unchanged entry (as -ii or -vv list
 * them), and for a directory whose only difference is its modification time: see verify.c.
 */
bool vs_rsync_item_differs(const char *line, const char **name);

/* VS_EINVAL, naming flag and why, when flag (one word of --rsync-flags) may not be added to
 * volshift's rsync: it would change the source, copy nothing, or leave the copy inexact or
 * unverifiable (src/migrate/rsync_flags.c has the list). */
int vs_migrate_rsync_flag_check(const char *flag, vs_error *err);

#endif
