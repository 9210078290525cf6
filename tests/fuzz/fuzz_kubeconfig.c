/*
 * libFuzzer target: kubeconfig files as people write and merge them, and worse: any bytes given
 * as --kubeconfig. Each must load or fail with an error that says why, and a loaded one must name
 * its server. (Credentials are not asked for: that may run an exec plugin the file names.)
 */
#include "kube/kube.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	vs_kube_config_opts opts = { .kubeconfig = path };
	vs_kube_config *cfg = NULL;
	vs_error err;

	if (fd < 0 && (fd = memfd_create("kubeconfig", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (vs_kube_config_load(&opts, &cfg, &err) == 0) {
		if (!vs_kube_config_server(cfg) || !vs_kube_config_tls(cfg))
			abort();
		(void)vs_kube_config_namespace(cfg);
		(void)vs_kube_config_context(cfg);
	} else if (!err.code || !err.message[0]) {
		abort(); /* a refusal says why */
	}
	vs_kube_config_free(cfg);
	return 0;
}
