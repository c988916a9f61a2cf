/* backend_select.c: the backend that a program's --device and --precision
 * name. Built with -DVITCAP_CUDA by make CUDA=1; without it the CUDA choices
 * are honest errors and nothing of CUDA is linked. */
#include "backend.h"
#include "util.h"

#include <string.h>

#ifdef VITCAP_CUDA
/* backend_cuda.cu */
int cuda_probe(char *err, size_t errsz);
int cuda_select(int ordinal);
#endif

#define NO_CUDA "this build has no CUDA backend (rebuild with make CUDA=1)"

const struct backend *
backend_get(const char *device, const char *precision, char *err, size_t errsz)
{
	int cuda, bf16;

	if (!device || strcmp(device, "cpu") == 0)
		cuda = 0;
	else if (strcmp(device, "cuda") == 0)
		cuda = 1;
	else {
		seterr(err, errsz, "unknown device %s (cpu or cuda)", device);
		return NULL;
	}
	if (!precision)
		bf16 = cuda;
	else if (strcmp(precision, "fp32") == 0)
		bf16 = 0;
	else if (strcmp(precision, "bf16") == 0)
		bf16 = 1;
	else {
		seterr(err, errsz, "unknown precision %s (fp32 or bf16)", precision);
		return NULL;
	}
	if (!cuda) {
		if (bf16) {
			seterr(err, errsz, "bf16 needs --device cuda: the CPU computes in fp32");
			return NULL;
		}
		return &backend_cpu;
	}
#ifdef VITCAP_CUDA
	if (cuda_probe(err, errsz) != 0)
		return NULL;
	return bf16 ? &backend_cuda_bf16 : &backend_cuda;
#else
	seterr(err, errsz, NO_CUDA);
	return NULL;
#endif
}

const struct backend *
backend_for_options(const char *device, const char *precision)
{
	static const char *const devices[] = {"cpu", "cuda"}, *const precisions[] = {"fp32", "bf16"};
	const struct backend *be;
	char err[256];

	if (device)
		estrchoice(device, devices, 2, "--device");
	if (precision)
		estrchoice(precision, precisions, 2, "--precision");
	if ((!device || strcmp(device, "cpu") == 0) && precision && strcmp(precision, "bf16") == 0)
		uprintf("--precision bf16 needs --device cuda");
	if (!(be = backend_get(device, precision, err, sizeof err)))
		eprintf("--device %s: %s", device ? device : "cpu", err);
	return be;
}

int
backend_cuda_select(int ordinal)
{
#ifdef VITCAP_CUDA
	return cuda_select(ordinal);
#else
	(void)ordinal;
	return -1;
#endif
}
