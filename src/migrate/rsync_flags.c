/*
 * Which of rsync's options --rsync-flags may add. volshift's copy must be an exact copy that the
 * verification (the same rsync, as a dry run with the same flags) can check, and it must never
 * change the source: a flag that removes source files, copies nothing, skips or alters what it
 * copies, or weakens the comparison the final pass and the verification rely on is refused, naming
 * the flag and why. Everything else (tuning, logging, --exclude/--include/--filter, which the
 * verification applies too) is passed through. Options are matched as rsync matches them: long
 * ones also by an unambiguous prefix of two letters or more (popt), short ones in clusters ("-avn").
 */
#include "migrate.h"

#include <string.h>

struct rsync_refused {
	const char *name; /* long option, without "--" */
	char letter;	  /* its short option, or 0 */
	const char *why;
};

static const struct rsync_refused rsync_refused[] = {
	{ "remove-source-files", 0, "it deletes the source's files as they are copied" },
	{ "remove-sent-files", 0, "it deletes the source's files as they are copied" },
	{ "dry-run", 'n', "it copies nothing" },
	{ "list-only", 0, "it copies nothing" },
	{ "only-write-batch", 0, "it copies nothing to the destination" },
	{ "read-batch", 0, "it copies from a batch file instead of the source" },
	{ "existing", 0, "it skips files missing on the destination" },
	{ "ignore-non-existing", 0, "it skips files missing on the destination" },
	{ "ignore-existing", 0, "it skips files the warm copy already sent, however they changed since" },
	{ "update", 'u', "it skips files that are newer on the destination" },
	{ "size-only", 0, "it skips files of the same size, changed or not" },
	{ "modify-window", '@', "it takes files changed within the window for unchanged" },
	{ "max-size", 0, "it skips large files" },
	{ "min-size", 0, "it skips small files" },
	{ "max-delete", 0, "it leaves deleted files on the destination" },
	{ "files-from", 0, "it copies only the files listed" },
	{ "cvs-exclude", 'C', "it leaves out files by CVS's rules (core, *.o, .git, ...)" },
	{ "prune-empty-dirs", 'm', "it leaves out empty directories" },
	{ "compare-dest", 0, "it skips files found in another directory" },
	{ "copy-dest", 0, "it takes files from another directory" },
	{ "link-dest", 0, "it hard-links files from another directory" },
	{ "backup", 'b', "it adds backup files to the destination" },
	{ "backup-dir", 0, "it adds backup files to the destination" },
	{ "copy-links", 'L', "it replaces symlinks by what they point to" },
	{ "copy-unsafe-links", 0, "it replaces symlinks by what they point to" },
	{ "safe-links", 0, "it leaves out symlinks" },
	{ "munge-links", 0, "it alters symlinks" },
	{ "copy-dirlinks", 'k', "it replaces symlinks to directories by the directories" },
	{ "keep-dirlinks", 'K', "it follows symlinks to directories on the destination" },
	{ "omit-dir-times", 'O', "it leaves directories' times behind" },
	{ "omit-link-times", 'J', "it leaves symlinks' times behind" },
	{ "append", 0, "it only appends to files, whatever changed earlier in them" },
	{ "append-verify", 0, "it only appends to files, whatever changed earlier in them" },
	{ "chmod", 0, "it changes permissions" },
	{ "chown", 0, "it changes owners" },
	{ "usermap", 0, "it changes owners" },
	{ "groupmap", 0, "it changes groups" },
	{ "fake-super", 0, "it stores owners and modes in extended attributes instead" },
	{ "no-numeric-ids", 0, "it maps owners by name, which the pod may not know" },
	{ "no-recursive", 0, "it copies no subdirectory" },
	{ "no-r", 0, "it copies no subdirectory" },
	{ "no-links", 0, "it leaves out symlinks" },
	{ "no-l", 0, "it leaves out symlinks" },
	{ "no-perms", 0, "it leaves permissions behind" },
	{ "no-p", 0, "it leaves permissions behind" },
	{ "no-times", 0, "it leaves times behind, and the final pass and the verification compare them" },
	{ "no-t", 0, "it leaves times behind, and the final pass and the verification compare them" },
	{ "no-group", 0, "it leaves groups behind" },
	{ "no-g", 0, "it leaves groups behind" },
	{ "no-owner", 0, "it leaves owners behind" },
	{ "no-o", 0, "it leaves owners behind" },
	{ "no-devices", 0, "it leaves out device files" },
	{ "no-specials", 0, "it leaves out sockets and fifos" },
	{ "no-D", 0, "it leaves out device files, sockets and fifos" },
	{ "no-hard-links", 0, "it copies hard links as separate files" },
	{ "no-H", 0, "it copies hard links as separate files" },
	{ "no-acls", 0, "it leaves ACLs behind" },
	{ "no-A", 0, "it leaves ACLs behind" },
	{ "no-xattrs", 0, "it leaves extended attributes behind" },
	{ "no-X", 0, "it leaves extended attributes behind" },
	{ "no-delete", 0, "it leaves deleted files on the destination" },
	{ "server", 0, "it is rsync's own, for its remote side" },
	{ "sender", 0, "it is rsync's own, for its remote side" },
	{ "daemon", 0, "it starts a server instead of copying" },
};

/* Short options that take a value: the rest of a cluster after one of them is its value. */
static const char rsync_short_with_value[] = "efTBM@";

static int rsync_refuse(const char *flag, const struct rsync_refused *r, vs_error *err)
{
	return vs_error_set(err, VS_EINVAL,
			    "--rsync-flags %s: refused, %s (volshift's copy must be an exact copy it can verify, and "
			    "must never change the source; see --rsync-flags in the README)",
			    flag, r->why);
}

static int rsync_check_long(const char *flag, vs_error *err)
{
	size_t n = strcspn(flag + 2, "=");

	for (size_t k = 0; k < sizeof(rsync_refused) / sizeof(rsync_refused[0]); k++) {
		const char *name = rsync_refused[k].name;
		/* the option itself, or a prefix that could stand for it (--remove-s, --dry) */
		if (n >= 2 && strncmp(flag + 2, name, n) == 0)
			return rsync_refuse(flag, &rsync_refused[k], err);
	}
	return 0;
}

static int rsync_check_short(const char *flag, vs_error *err)
{
	for (const char *c = flag + 1; *c; c++) {
		for (size_t k = 0; k < sizeof(rsync_refused) / sizeof(rsync_refused[0]); k++)
			if (rsync_refused[k].letter == *c)
				return rsync_refuse(flag, &rsync_refused[k], err);
		if (strchr(rsync_short_with_value, *c))
			break;
	}
	return 0;
}

int vs_migrate_rsync_flag_check(const char *flag, vs_error *err)
{
	if (vs_str_has_prefix(flag, "--"))
		return rsync_check_long(flag, err);
	if (flag[0] == '-' && flag[1])
		return rsync_check_short(flag, err);
	return 0; /* a value, as in "--exclude,lost+found" split at the comma */
}
