/*
 * Local files, written the durable way: temp file, fsync, rename, fsync the directory.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vs_file_read(const char *path, size_t max, char **out, size_t *len, vs_error *err)
{
	vs_buf b;
	char chunk[65536];
	int fd, rc = 0;
	ssize_t n;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_error_set(err, VS_EIO, "%s: cannot open: %s", path, strerror(errno));
	vs_buf_init(&b, max);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vs_error_set(err, VS_EIO, "%s: cannot read: %s", path, strerror(errno));
			goto done;
		}
		if (vs_buf_append(&b, chunk, (size_t)n) < 0) {
			rc = vs_error_set(err, VS_ENOMEM, "%s: larger than %zu bytes", path, max);
			goto done;
		}
	}
	if (len)
		*len = b.len;
	*out = vs_buf_steal(&b);
done:
	close(fd);
	vs_buf_free(&b);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char *copy = vs_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int vs_file_write_atomic(const char *path, const void *data, size_t len, int mode, vs_error *err)
{
	char *tmp = vs_xasprintf("%s.tmp.%d", path, (int)getpid());
	const char *p = data;
	int fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = vs_error_set(err, VS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		goto done;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vs_error_set(err, VS_EIO, "%s: cannot write: %s", tmp, strerror(errno));
			goto done;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = vs_error_set(err, VS_EIO, "%s: cannot sync: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = vs_error_set(err, VS_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
		goto done;
	}
	if (fsync_dir_of(path) < 0)
		rc = vs_error_set(err, VS_EIO, "%s: cannot sync its directory: %s", path, strerror(errno));
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int vs_mkdir_p(const char *path, int mode, vs_error *err)
{
	char *copy = vs_xstrdup(path);
	int rc = 0;

	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, (mode_t)mode) < 0 && errno != EEXIST) {
			rc = vs_error_set(err, VS_EIO, "%s: cannot create directory: %s", copy, strerror(errno));
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(copy);
	return rc;
}

int vs_rm_rf(const char *path, vs_error *err)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : vs_error_set(err, VS_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return vs_error_set(err, VS_EIO, "%s: cannot remove: %s", path, strerror(errno));
		return 0;
	}
	d = opendir(path);
	if (!d)
		return vs_error_set(err, VS_EIO, "%s: cannot open directory: %s", path, strerror(errno));
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *child = vs_xasprintf("%s/%s", path, e->d_name);
		rc = vs_rm_rf(child, err);
		free(child);
	}
	closedir(d);
	if (rc == 0 && rmdir(path) < 0 && errno != ENOENT)
		rc = vs_error_set(err, VS_EIO, "%s: cannot remove directory: %s", path, strerror(errno));
	return rc;
}
