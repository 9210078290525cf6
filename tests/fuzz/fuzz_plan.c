/*
 * libFuzzer target: plan files as people write them, and worse: any bytes. Each must load or be
 * refused with a message that says where (file:line:column), and a plan that loads must pass the
 * checks again as JSON (what a resumed run does with the journal's copy) and describe every step.
 */
#include "engine/engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *plan = NULL;
	const json_t *step;
	vs_error err;
	size_t i;

	vs_error_clear(&err);
	if (vs_engine_load("fuzz.yaml", (const char *)data, size, &plan, &err) < 0) {
		if (plan || strncmp(err.message, "fuzz.yaml:", 10) != 0)
			abort();
		return 0;
	}
	if (vs_engine_validate(plan, &err) < 0)
		abort();
	json_array_foreach (vs_engine_plan_steps(plan), i, step)
		free(vs_engine_step_describe(step));
	json_decref(plan);
	return 0;
}
