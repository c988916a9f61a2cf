/* model_check: one forward and backward of the model on the CUDA backend
 * against the CPU backend, with the same weights and batch (tests/gpu/run.sh,
 * and over the emulated backend tests/cuda_emu_model.bats).
 *
 *	model_check [-g] [-s steps] CONFIG PRECISION B
 *
 * CONFIG a preset or JSON file (vocabulary 1000 when it names none), PRECISION
 * fp32 or bf16, B the batch. Compares the encoder output, the logits, the loss
 * and every gradient by relative L2 error, ||gpu - cpu|| / ||cpu||, prints a
 * line per quantity on stderr and one JSON object on stdout, and exits 1 when
 * one is over its tolerance (below), 77 when no CUDA backend can be had.
 *
 * -s steps: then that many AdamW steps on the same batch (0 to 10, 0 by
 * default), the first with that gradient; compares the loss after each and the
 * parameters after the last (a bf16 backend's copies of the weights must follow
 * the updates). -g: then greedy decoding (model_decode_greedy, dec_len - 1
 * words) of the batch's images on both; in fp32 every row's words must be the
 * same, in bf16 (near ties go either way) they are counted. */
#include "backend.h"
#include "config.h"
#include "model.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fp32: the CPU's arithmetic up to the order of sums (METHOD.md: far under
 * 1e-3); bf16: matrix products on bf16 operands (1e-3 to 1e-2 each), through
 * the whole network. A tensor's own error may be larger than the whole
 * gradient's: a small gradient is mostly rounding. */
static const struct tol {
	double out, loss, grad, tensor, params;
} tol_fp32 = {1e-4, 1e-5, 1e-4, 1e-2, 1e-4}, tol_bf16 = {3e-2, 1e-2, 5e-2, 0.3, 3e-2};

/* -s: the step's learning rate, large enough that each step moves the loss by
 * far more than its tolerance */
#define LR 1e-3

static double
rel_l2(const float *a, const float *ref, size_t n)
{
	double d = 0, r = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isfinite(a[i]))
			return INFINITY;
		d += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
		r += (double)ref[i] * ref[i];
	}
	return r > 0 ? sqrt(d / r) : sqrt(d);
}

static int failed;

/* x in JSON: printf's "nan" and "inf" are not numbers to a JSON reader, and
 * tests/gpu/run.sh's results must stay readable when a check blows up */
static const char *
jnum(char *buf, size_t n, const char *fmt, double x)
{
	if (!isfinite(x))
		snprintf(buf, n, "null");
	else
		snprintf(buf, n, fmt, x);
	return buf;
}

static void
report(const char *what, double err, double limit)
{
	int ok = err <= limit;

	fprintf(stderr, "  %-40s %.3e  (tolerance %.0e) %s\n", what, err, limit, ok ? "ok" : "FAIL");
	failed |= !ok;
}

/* -s: steps AdamW steps on both models after their first backward, each
 * followed by the forward and backward of the same batch; the largest relative
 * error of a step's loss, and that of the parameters after the last */
static void
train(struct model *cpu, struct model *gpu, const uint8_t *img, const int32_t *ids,
    const int32_t *tgt, int B, int steps, const struct tol *tol, double *e_steps,
    double *e_params)
{
	float loss_c, loss_g, *pg;
	char what[64];
	double e;
	int k;

	*e_steps = 0;
	for (k = 1; k <= steps; k++) {
		model_clip_grad(cpu, 1.0);
		model_clip_grad(gpu, 1.0);
		model_adamw(cpu, LR, 0.9, 0.999, 1e-8, 0.1);
		model_adamw(gpu, LR, 0.9, 0.999, 1e-8, 0.1);
		if (model_forward(cpu, img, NULL, ids, tgt, B, cpu->cfg.dec_len, &loss_c) != 0 ||
		    model_forward(gpu, img, NULL, ids, tgt, B, gpu->cfg.dec_len, &loss_g) != 0)
			eprintf("model_forward: %s%s", cpu->err, gpu->err);
		model_zero_grad(cpu);
		model_zero_grad(gpu);
		model_backward(cpu, 0);
		model_backward(gpu, 0);
		e = fabs((double)loss_g - loss_c) / fabs((double)loss_c);
		snprintf(what, sizeof what, "loss after step %d (cpu %.6f)", k, loss_c);
		report(what, e, tol->loss);
		if (!(e <= *e_steps))
			*e_steps = e;
	}
	pg = emalloc(cpu->tab.total * sizeof *pg);
	gpu->be->download(pg, gpu->params, cpu->tab.total * sizeof *pg);
	*e_params = rel_l2(pg, cpu->params, cpu->tab.total);
	report("parameters after the steps", *e_params, tol->params);
	free(pg);
}

/* -g: greedy decoding of the images on both; the rows whose words differ
 * (in fp32, a failure) and the largest relative error of a row's
 * log-probability among those that agree */
static void
greedy(struct model *cpu, struct model *gpu, const uint8_t *img, int B, int exact,
    const struct tol *tol, int *rows_differ, double *e_logprob)
{
	const int L = cpu->cfg.dec_len - 1;
	int32_t *ic, *ig, *nc, *ng;
	double *pc, *pg, e;
	int b, words = 0;

	ic = emalloc((size_t)B * (L + 1) * sizeof *ic);
	ig = emalloc((size_t)B * (L + 1) * sizeof *ig);
	nc = emalloc(B * sizeof *nc);
	ng = emalloc(B * sizeof *ng);
	pc = emalloc(B * sizeof *pc);
	pg = emalloc(B * sizeof *pg);
	model_reserve(cpu, B, MODEL_ENCODER | MODEL_DECODER);
	model_reserve(gpu, B, MODEL_ENCODER | MODEL_DECODER);
	if (model_encode(cpu, img, B, NULL) != 0 || model_encode(gpu, img, B, NULL) != 0 ||
	    model_decode_start(cpu, B) != 0 || model_decode_start(gpu, B) != 0 ||
	    model_decode_greedy(cpu, L, ic, nc, pc) != 0 ||
	    model_decode_greedy(gpu, L, ig, ng, pg) != 0)
		eprintf("greedy decoding: %s%s", cpu->err, gpu->err);
	*rows_differ = 0;
	*e_logprob = 0;
	for (b = 0; b < B; b++) {
		words += nc[b];
		if (nc[b] != ng[b] || memcmp(ic + (size_t)b * (L + 1), ig + (size_t)b * (L + 1),
		    nc[b] * sizeof *ic) != 0) {
			++*rows_differ;
			continue;
		}
		e = fabs(pg[b] - pc[b]) / fmax(fabs(pc[b]), 1e-6);
		if (!(e <= *e_logprob))
			*e_logprob = e;
	}
	fprintf(stderr, "  %-40s %d of %d, of %d words on the CPU%s\n",
	    "greedy rows with other words", *rows_differ, B, words,
	    !exact ? " (counted)" : *rows_differ ? " FAIL" : " ok");
	failed |= exact && *rows_differ;
	report("greedy log-probability", *e_logprob, tol->out);
	free(ic);
	free(ig);
	free(nc);
	free(ng);
	free(pc);
	free(pg);
}

int
main(int argc, char **argv)
{
	const struct backend *be;
	const struct tol *tol;
	struct model *cpu, *gpu;
	struct config c;
	char err[512], worst_name[PARAM_NAME_MAX] = "", j[9][32];
	unsigned flags = MODEL_ENCODER | MODEL_DECODER | MODEL_TRAIN;
	size_t n_img, n_tok, n_emb, n_log, i;
	uint8_t *img;
	int32_t *ids, *tgt;
	float *ec, *eg, *lc, *lg, *gc, *gg, loss_c, loss_g;
	double e_emb, e_log, e_loss, e_grad, worst = 0, e_steps = 0, e_params = 0, e_lp = 0;
	uint64_t s = 12345;
	int B, T, t, ch, steps = 0, decode = 0, differ = 0;

	setprogname("model_check");
	while ((ch = getopt(argc, argv, "gs:")) != -1) {
		switch (ch) {
		case 'g': decode = 1; break;
		case 's': steps = (int)estrtonum(optarg, 0, 10, "-s"); break;
		default: uprintf("usage: model_check [-g] [-s steps] CONFIG fp32|bf16 B");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 3)
		uprintf("usage: model_check [-g] [-s steps] CONFIG fp32|bf16 B");
	if (config_load(&c, argv[0], err, sizeof err) != 0)
		uprintf("%s", err);
	if (c.vocab == 0)
		c.vocab = 1000;
	B = (int)estrtonum(argv[2], 1, 4096, "B");
	T = c.dec_len;
	tol = strcmp(argv[1], "bf16") == 0 ? &tol_bf16 : &tol_fp32;
	if (!(be = backend_get("cuda", argv[1], err, sizeof err))) {
		fprintf(stderr, "model_check: %s\n", err);
		return 77;
	}
	cpu = model_new(&c, &backend_cpu);
	model_init(cpu, 7);
	gpu = model_new(&c, be);
	be->upload(gpu->params, cpu->params, cpu->tab.total * sizeof(float));
	model_reserve(cpu, B, flags);
	model_reserve(gpu, B, flags);

	/* random pixels; captions of random lengths, <pad> after <eos> */
	n_img = (size_t)B * c.image * c.image * 3;
	n_tok = (size_t)B * T;
	n_emb = (size_t)B * config_enc_len(&c) * c.dim;
	n_log = n_tok * c.vocab;
	img = emalloc(n_img);
	ids = emalloc(n_tok * sizeof *ids);
	tgt = emalloc(n_tok * sizeof *tgt);
	for (i = 0; i < n_img; i++)
		img[i] = (uint8_t)(splitmix64(&s) >> 56);
	for (i = 0; i < (size_t)B; i++) {
		int32_t *id = ids + i * T, *tg = tgt + i * T;
		int len = 1 + (int)(splitmix64(&s) % (uint64_t)T);       /* w1 .. w(len-1) <eos> */

		for (t = 0; t < T; t++) {
			tg[t] = t < len - 1 ? 4 + (int32_t)(splitmix64(&s) % (uint64_t)(c.vocab - 4)) :
			    t == len - 1 ? TOK_EOS : TOK_PAD;
			id[t] = t == 0 ? TOK_BOS : t < len ? tg[t - 1] : TOK_PAD;
		}
	}

	ec = emalloc(n_emb * sizeof *ec);
	eg = emalloc(n_emb * sizeof *eg);
	lc = emalloc(n_log * sizeof *lc);
	lg = emalloc(n_log * sizeof *lg);
	if (model_encode(cpu, img, B, ec) != 0 || model_encode(gpu, img, B, eg) != 0)
		eprintf("model_encode: %s%s", cpu->err, gpu->err);
	if (model_forward(cpu, NULL, NULL, ids, NULL, B, T, NULL) != 0 ||
	    model_forward(gpu, NULL, NULL, ids, NULL, B, T, NULL) != 0)
		eprintf("model_forward: %s%s", cpu->err, gpu->err);
	model_logits(cpu, lc);
	model_logits(gpu, lg);
	if (model_forward(cpu, img, NULL, ids, tgt, B, T, &loss_c) != 0 ||
	    model_forward(gpu, img, NULL, ids, tgt, B, T, &loss_g) != 0)
		eprintf("model_forward: %s%s", cpu->err, gpu->err);
	model_zero_grad(cpu);
	model_zero_grad(gpu);
	model_backward(cpu, 0);
	model_backward(gpu, 0);
	gc = cpu->grads;
	gg = emalloc(cpu->tab.total * sizeof *gg);
	be->download(gg, gpu->grads, cpu->tab.total * sizeof *gg);

	fprintf(stderr, "model_check %s %s, batch %d: GPU against CPU, relative L2 error\n",
	    argv[0], argv[1], B);
	e_emb = rel_l2(eg, ec, n_emb);
	e_log = rel_l2(lg, lc, n_log);
	e_loss = fabs((double)loss_g - loss_c) / fabs((double)loss_c);
	e_grad = rel_l2(gg, gc, cpu->tab.total);
	report("encoder output", e_emb, tol->out);
	report("logits", e_log, tol->out);
	report("loss", e_loss, tol->loss);
	report("gradient (all)", e_grad, tol->grad);
	for (i = 0; i < (size_t)cpu->tab.n; i++) {
		const struct param *p = &cpu->tab.v[i];
		double e = rel_l2(gg + p->offset, gc + p->offset, p->size);

		if (!(e <= worst)) {
			worst = e;
			snprintf(worst_name, sizeof worst_name, "%s", p->name);
		}
		if (!(e <= tol->tensor))
			report(p->name, e, tol->tensor);
	}
	fprintf(stderr, "  worst tensor: %s %.3e\n", worst_name, worst);
	if (steps > 0)
		train(cpu, gpu, img, ids, tgt, B, steps, tol, &e_steps, &e_params);
	if (decode)
		greedy(cpu, gpu, img, B, tol == &tol_fp32, tol, &differ, &e_lp);
	printf("{\"config\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"loss_cpu\":%s,"
	    "\"loss_gpu\":%s,\"err_embed\":%s,\"err_logits\":%s,\"err_loss\":%s,"
	    "\"err_grad\":%s,\"worst_tensor\":\"%s\",\"err_worst_tensor\":%s,",
	    argv[0], argv[1], B, jnum(j[0], sizeof j[0], "%.9g", loss_c),
	    jnum(j[1], sizeof j[1], "%.9g", loss_g), jnum(j[2], sizeof j[2], "%.3e", e_emb),
	    jnum(j[3], sizeof j[3], "%.3e", e_log), jnum(j[4], sizeof j[4], "%.3e", e_loss),
	    jnum(j[5], sizeof j[5], "%.3e", e_grad), worst_name,
	    jnum(j[6], sizeof j[6], "%.3e", worst));
	if (steps > 0)
		printf("\"steps\":%d,\"err_step_loss\":%s,\"err_params\":%s,", steps,
		    jnum(j[7], sizeof j[7], "%.3e", e_steps),
		    jnum(j[8], sizeof j[8], "%.3e", e_params));
	if (decode)
		printf("\"greedy_rows_differ\":%d,\"err_greedy_logprob\":%s,", differ,
		    jnum(j[7], sizeof j[7], "%.3e", e_lp));
	printf("\"ok\":%s}\n", failed ? "false" : "true");
	free(img);
	free(ids);
	free(tgt);
	free(ec);
	free(eg);
	free(lc);
	free(lg);
	free(gg);
	model_free(cpu);
	model_free(gpu);
	return failed;
}
