/*
 * pv_index: which volume the PV controller binds a claim to that does not name one, as
 * persistentVolumeOrderedIndex.findBestMatchForClaim (index.go) and FindMatchingVolume
 * (k8s.io/component-helpers/storage/volume/pv_helpers.go) decide it, in the PV controller's path
 * (no node: kube-scheduler binds unbound volumes of WaitForFirstConsumer claims itself).
 */
#include "pv_controller.h"

#include <stdlib.h>
#include <string.h>

/* The access modes in the order GetAccessModesAsString writes them. */
static const char *const access_modes[] = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"};
#define NMODES (sizeof access_modes / sizeof access_modes[0])

/* The bit set of a modes array. */
static unsigned mode_bits(const json_t *modes)
{
	unsigned bits = 0;

	for (size_t i = 0; i < NMODES; i++)
		if (vs_json_array_has_str(modes, access_modes[i]))
			bits |= 1u << i;
	return bits;
}

static int popcount(unsigned v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

const char *pv_check_volume_satisfies(const json_t *volume, const json_t *claim, char *buf, size_t len)
{
	unsigned want = mode_bits(vs_json_path(claim, "spec.accessModes"));

	if (cl_deleting(volume)) {
		snprintf(buf, len, "the volume is marked for deletion \"%s\"", cl_name(volume));
		return buf;
	}
	if (pv_storage(volume, "spec.capacity.storage") < pv_storage(claim, "spec.resources.requests.storage"))
		return "requested PV is too small";
	if (strcmp(pv_volume_class(volume), pv_claim_class(claim)) != 0)
		return "storageClassName does not match";
	if (pv_volume_mode_mismatch(claim, volume))
		return "incompatible volumeMode";
	if ((mode_bits(vs_json_path(volume, "spec.accessModes")) & want) != want)
		return "incompatible accessMode";
	return NULL;
}

/* A claim's spec.selector against a volume's labels (no selector: every volume). */
static bool selector_allows(const json_t *claim, const json_t *volume)
{
	const json_t *sel = vs_json_path(claim, "spec.selector");

	return !json_is_object(sel) || cl_selector_matches(sel, vs_json_path(volume, "metadata.labels"), true);
}

/* Why FindMatchingVolume passes over a volume before looking at its binding; false to consider it. */
static bool unusable(const json_t *volume, const json_t *claim)
{
	if (vs_json_path(volume, "spec.claimRef") && !pv_volume_bound_to_claim(volume, claim))
		return true; /* bound or pre-bound to another claim */
	if (pv_storage(volume, "spec.capacity.storage") < pv_storage(claim, "spec.resources.requests.storage"))
		return true;
	return pv_volume_mode_mismatch(claim, volume) || cl_deleting(volume);
}

/* FindMatchingVolume with node == nil, over the volumes whose access-mode set is exactly modes. */
static const json_t *find_matching_volume(const json_t *claim, const json_t *volumes, unsigned modes,
					  bool delay_binding)
{
	const json_t *smallest = NULL;
	json_t *v;
	int64_t smallest_qty = 0;
	size_t i;

	json_array_foreach(volumes, i, v) {
		int64_t qty = pv_storage(v, "spec.capacity.storage");
		if (mode_bits(vs_json_path(v, "spec.accessModes")) != modes || unusable(v, claim))
			continue;
		if (pv_volume_bound_to_claim(v, claim))
			return v; /* pre-bound to this claim (or provisioned for it) */
		if (delay_binding)
			continue; /* the scheduler binds unbound volumes of a delayed claim */
		/* only Available volumes: the others will become Available, and binding them now would
		 * likely end in a conflict */
		if (strcmp(vs_json_str_or(v, "status.phase", ""), "Available") != 0 || !selector_allows(claim, v))
			continue;
		if (strcmp(pv_volume_class(v), pv_claim_class(claim)) != 0)
			continue;
		if (!smallest || smallest_qty > qty) {
			smallest = v;
			smallest_qty = qty;
		}
	}
	return smallest;
}

/*
 * allPossibleMatchingAccessModes: the distinct access-mode sets of the volumes that hold every
 * mode the claim wants, fewest modes first (the closest to what the claim asked for). Returns n.
 */
static size_t matching_mode_sets(const json_t *volumes, unsigned want, unsigned sets[1u << NMODES])
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(volumes, i, v) {
		unsigned m = mode_bits(vs_json_path(v, "spec.accessModes"));
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup = dup || sets[k] == m;
		if ((m & want) == want && !dup)
			sets[n++] = m;
	}
	for (size_t a = 1; a < n; a++) {
		for (size_t b = a; b > 0; b--) {
			int pb = popcount(sets[b]), pa = popcount(sets[b - 1]);
			unsigned t = sets[b];
			if (pb > pa || (pb == pa && sets[b] > sets[b - 1]))
				break;
			sets[b] = sets[b - 1];
			sets[b - 1] = t;
		}
	}
	return n;
}

struct match_arg {
	const json_t *claim;
	bool delay_binding;
};

/* findBestMatchForClaim over volumes (borrowed); the match borrowed, or NULL. */
static const json_t *best_match(const json_t *volumes, void *arg)
{
	const struct match_arg *m = arg;
	const json_t *best = NULL;
	unsigned sets[1u << NMODES];
	size_t n = matching_mode_sets(volumes, mode_bits(vs_json_path(m->claim, "spec.accessModes")), sets);

	for (size_t k = 0; k < n && !best; k++)
		best = find_matching_volume(m->claim, volumes, sets[k], m->delay_binding);
	return best;
}

json_t *pv_find_best_match(struct pv_ctrl *pv, const json_t *claim, bool delay_binding)
{
	struct match_arg m = { claim, delay_binding };

	return cl_cache_pick(&pv->volumes, best_match, &m);
}
