/* bench_train: throughput and memory of libcrmt on the CRMT-shaped MLP of
 * docs/performance.md, against the sgemm ceiling of the same shapes timed in the same run.
 *
 * Model: two modalities (inputs 512 and 256), each encoder linear 256 - ReLU - linear 128,
 * 10 classes; JT head (baseline) or CRMT head with orthonormal rows. Synthetic data: class
 * means plus Gaussian noise (deterministic). One thread is meant (OPENBLAS_NUM_THREADS=1);
 * the OpenBLAS kernel in use is printed on every table header and every RESULT line.
 *
 * Measured:
 *   train     crmt_train samples/s, JT and CRMT-JT step 1, batch 64 and 256 (best / median
 *             over epochs), achieved sgemm FLOP rate of training vs the same sgemm calls
 *             alone (the ceiling of these shapes) and vs a large square sgemm;
 *   layouts   every sgemm call of the step alone, as made and in its fastest equivalent
 *             storage layout: what a change of layout could add to the ceiling;
 *   step2     CRMT step 2 (integration weights): setup time, epochs/s, samples/s;
 *   certify   crmt_certify_batch certificates/s (sound Lipschitz bounds);
 *   attack    crmt_attack samples/s (official PGD preset: eps 0.2, 4 steps);
 *   memory    heap bytes beyond data + parameters (mallinfo2), peak RSS (getrusage);
 *   scaling   epoch time for n, 2n, 4n samples and the heap beyond the dataset per n.
 *
 * Usage: bench_train [--quick] [--n N] [--epochs E] [--only SECTION]
 * Machine-readable lines: "RESULT <name> <value> <unit> <kernel>" (scripts/bench.sh). */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>

#include "bench_common.h"
#include "crmt/crmt.h"

#define N_MOD 2
#define N_CLASSES 10
#define HIDDEN 256
#define FEAT 128

static const int input_dim[N_MOD] = {512, 256};

/* ------------------------------------------------------------------ utilities */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_train: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Heap bytes in use (malloc'd, including mmapped blocks). */
static double heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

static double max_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024.0 * (double)ru.ru_maxrss;
}

/* ------------------------------------------------------------------ data and model */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

static double rng_normal(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

typedef struct synth {
    size_t n;
    float *x[N_MOD];
    int32_t *y;
    crmt_dataset *ds;
} synth;

/* n samples: x_m = mu_{m,y} + noise, mean scale 1/sqrt(d) per coordinate so ||x_m|| ~ 1.5. */
static void synth_create(synth *s, size_t n, uint64_t seed)
{
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    s->n = n;
    s->y = xmalloc(sizeof(int32_t) * n);
    for (size_t i = 0; i < n; i++)
        s->y[i] = (int32_t)(rng_next() % N_CLASSES);
    bench_check(crmt_dataset_create(&s->ds, n, N_MOD), "crmt_dataset_create");
    for (int m = 0; m < N_MOD; m++) {
        const size_t d = (size_t)input_dim[m];
        float *mu = xmalloc(sizeof(float) * N_CLASSES * d);
        for (size_t i = 0; i < N_CLASSES * d; i++)
            mu[i] = (float)(rng_normal() / sqrt((double)d));
        s->x[m] = xmalloc(sizeof(float) * n * d);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < d; k++)
                s->x[m][i * d + k] =
                    mu[(size_t)s->y[i] * d + k] + (float)(rng_normal() / sqrt((double)d));
        free(mu);
        bench_check(crmt_dataset_set_modality(s->ds, m, s->x[m], d, CRMT_BORROW), "set_modality");
    }
    bench_check(crmt_dataset_set_labels(s->ds, s->y), "set_labels");
}

static void synth_free(synth *s)
{
    crmt_dataset_destroy(s->ds);
    for (int m = 0; m < N_MOD; m++)
        free(s->x[m]);
    free(s->y);
    memset(s, 0, sizeof *s);
}

static double synth_bytes(const synth *s)
{
    double b = (double)s->n * sizeof(int32_t);
    for (int m = 0; m < N_MOD; m++)
        b += (double)s->n * (double)input_dim[m] * sizeof(float);
    return b;
}

/* JT head, or CRMT head with orthonormal rows (norm = CRMT_NORM_ORTHONORMAL) or
 * row-normalised rows (CRMT_NORM_ROWS, the official release's head). */
static crmt_model *make_model_norm(crmt_head_kind head, crmt_head_norm norm, uint64_t seed)
{
    crmt_spec *spec = NULL;
    bench_check(crmt_spec_create(&spec, N_CLASSES), "crmt_spec_create");
    for (int m = 0; m < N_MOD; m++) {
        bench_check(crmt_spec_add_modality(spec, m ? "b" : "a", input_dim[m], NULL), "add_modality");
        bench_check(crmt_spec_add_linear(spec, m, HIDDEN), "add_linear");
        bench_check(crmt_spec_add_relu(spec, m), "add_relu");
        bench_check(crmt_spec_add_linear(spec, m, FEAT), "add_linear");
    }
    bench_check(crmt_spec_set(spec, CRMT_SPEC_HEAD, head), "spec_set head");
    if (head == CRMT_HEAD_CRMT)
        bench_check(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, norm), "spec_set norm");
    crmt_model *model = NULL;
    bench_check(crmt_model_create(&model, spec, seed), "crmt_model_create");
    crmt_spec_destroy(spec);
    return model;
}

static crmt_model *make_model(crmt_head_kind head, uint64_t seed)
{
    return make_model_norm(head, CRMT_NORM_ORTHONORMAL, seed);
}

static crmt_optimizer *make_sgd(crmt_model *model)
{
    crmt_optimizer *opt = NULL;
    bench_check(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), "optimizer_create");
    bench_check(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.01), "lr");
    bench_check(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), "momentum");
    bench_check(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, 1e-4), "weight decay");
    return opt;
}

/* sgemm FLOPs of one training sample, forward + backward, exactly the calls the library
 * makes: per linear layer forward 2*in*out; backward dW 2*in*out, din 2*in*out except for
 * the first layer (no input gradient during training); head K x d: forward, dW, dfeat. */
static double train_flops_per_sample(void)
{
    double f = 0.0;
    for (int m = 0; m < N_MOD; m++) {
        const double l1 = 2.0 * input_dim[m] * HIDDEN, l2 = 2.0 * HIDDEN * FEAT,
                     hd = 2.0 * FEAT * N_CLASSES;
        f += (l1 + l2 + hd) + (l1 + 2.0 * l2 + 2.0 * hd);
    }
    return f;
}

/* ------------------------------------------------------------------ sgemm ceiling */

/* The sgemm calls of one training step at batch B (same shapes, transposes, leading
 * dimensions and beta as src/nn/layer.c and src/model/model.c), on scratch buffers. */
typedef struct gemm_bufs {
    float *x[N_MOD], *h1[N_MOD], *f[N_MOD], *g[N_MOD];
    float *w1[N_MOD], *w2[N_MOD], *wh[N_MOD];
    float *dw1[N_MOD], *dw2[N_MOD], *dwh[N_MOD];
    float *dg[N_MOD], *df[N_MOD], *dh1[N_MOD];
} gemm_bufs;

static float *rand_buf(size_t n)
{
    float *p = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(rng_uniform() - 0.5);
    return p;
}

static void gemm_bufs_create(gemm_bufs *b, int B)
{
    const size_t nb = (size_t)B;
    for (int m = 0; m < N_MOD; m++) {
        const size_t in = (size_t)input_dim[m];
        b->x[m] = rand_buf(nb * in);
        b->h1[m] = rand_buf(nb * HIDDEN);
        b->f[m] = rand_buf(nb * FEAT);
        b->g[m] = rand_buf(nb * N_CLASSES);
        b->w1[m] = rand_buf(HIDDEN * in);
        b->w2[m] = rand_buf(FEAT * HIDDEN);
        b->wh[m] = rand_buf(N_CLASSES * FEAT);
        b->dw1[m] = rand_buf(HIDDEN * in);
        b->dw2[m] = rand_buf(FEAT * HIDDEN);
        b->dwh[m] = rand_buf(N_CLASSES * FEAT);
        b->dg[m] = rand_buf(nb * N_CLASSES);
        b->df[m] = rand_buf(nb * FEAT);
        b->dh1[m] = rand_buf(nb * HIDDEN);
    }
}

static void gemm_bufs_free(gemm_bufs *b)
{
    for (int m = 0; m < N_MOD; m++) {
        free(b->x[m]);
        free(b->h1[m]);
        free(b->f[m]);
        free(b->g[m]);
        free(b->w1[m]);
        free(b->w2[m]);
        free(b->wh[m]);
        free(b->dw1[m]);
        free(b->dw2[m]);
        free(b->dwh[m]);
        free(b->dg[m]);
        free(b->df[m]);
        free(b->dh1[m]);
    }
}

/* One sgemm call of the training step: row-major C[M x N] = op(A)[M x K] op(B)[K x N] +
 * beta C, with A stored K-major when not transposed (lda = K) and M-major when transposed
 * (lda = M), likewise B (ldb = N or K), C dense (ldc = N): the leading dimensions the library
 * uses for every call of this model. */
typedef struct gemm_call {
    const char *name;
    int M, N, K, trans_a, trans_b;
    float beta;
    const float *a, *b;
    float *c;
} gemm_call;

enum { CALLS_PER_STEP = 8 * N_MOD };

/* The calls of one training step at batch B, in the library's order (src/nn/layer.c,
 * src/model/model.c): forward of every modality (layer 1, layer 2, head), then per modality
 * the head's weight and input gradients and the layers' weight and input gradients (none for
 * layer 1's input). */
static void step_calls(gemm_bufs *b, int B, gemm_call *out)
{
    const int K = N_CLASSES;
    int n = 0;
    for (int m = 0; m < N_MOD; m++) {
        const int in = input_dim[m];
        out[n++] = (gemm_call){"fwd layer 1", B, HIDDEN, in, 0, 1, 1.0f, b->x[m], b->w1[m], b->h1[m]};
        out[n++] = (gemm_call){"fwd layer 2", B, FEAT, HIDDEN, 0, 1, 1.0f, b->h1[m], b->w2[m], b->f[m]};
        out[n++] = (gemm_call){"fwd head", B, K, FEAT, 0, 1, 0.0f, b->f[m], b->wh[m], b->g[m]};
    }
    for (int m = 0; m < N_MOD; m++) {
        const int in = input_dim[m];
        out[n++] = (gemm_call){"dW head", K, FEAT, B, 1, 0, 0.0f, b->dg[m], b->f[m], b->dwh[m]};
        out[n++] = (gemm_call){"dx head", B, FEAT, K, 0, 0, 0.0f, b->dg[m], b->wh[m], b->df[m]};
        out[n++] = (gemm_call){"dW layer 2", FEAT, HIDDEN, B, 1, 0, 1.0f, b->df[m], b->h1[m], b->dw2[m]};
        out[n++] = (gemm_call){"dx layer 2", B, HIDDEN, FEAT, 0, 0, 0.0f, b->df[m], b->w2[m], b->dh1[m]};
        out[n++] = (gemm_call){"dW layer 1", HIDDEN, in, B, 1, 0, 1.0f, b->dh1[m], b->x[m], b->dw1[m]};
    }
}

/* c as stored, or (store_ct) with C kept transposed: C^T = op(B)^T op(A)^T, the same
 * product from the kernel's other side. */
static void gemm_run(const gemm_call *c, int store_ct)
{
    const int lda = c->trans_a ? c->M : c->K, ldb = c->trans_b ? c->K : c->N;
    if (!store_ct)
        cblas_sgemm(CblasRowMajor, c->trans_a ? CblasTrans : CblasNoTrans,
                    c->trans_b ? CblasTrans : CblasNoTrans, c->M, c->N, c->K, 1.0f, c->a, lda,
                    c->b, ldb, c->beta, c->c, c->N);
    else
        cblas_sgemm(CblasRowMajor, c->trans_b ? CblasNoTrans : CblasTrans,
                    c->trans_a ? CblasNoTrans : CblasTrans, c->N, c->M, c->K, 1.0f, c->b, ldb,
                    c->a, lda, c->beta, c->c, c->M);
}

static void gemm_step(gemm_bufs *b, int B)
{
    gemm_call calls[CALLS_PER_STEP];
    step_calls(b, B, calls);
    for (int i = 0; i < CALLS_PER_STEP; i++)
        gemm_run(&calls[i], 0);
}

/* GFLOP/s of the training sgemm sequence at batch B: best of `reps` timings of enough
 * steps to cover about `seconds`. Returns samples/s equivalent through *samples_rate. */
static double gemm_ceiling(int B, double seconds, int reps, double *samples_rate)
{
    gemm_bufs b;
    gemm_bufs_create(&b, B);
    gemm_step(&b, B);
    int iters = 1;
    for (;;) {
        double t = bench_now();
        for (int i = 0; i < iters; i++)
            gemm_step(&b, B);
        if (bench_now() - t > seconds / 4 || iters > 1 << 20)
            break;
        iters *= 2;
    }
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        for (int i = 0; i < iters; i++)
            gemm_step(&b, B);
        double dt = (bench_now() - t) / iters;
        if (dt < best)
            best = dt;
    }
    gemm_bufs_free(&b);
    *samples_rate = B / best;
    return train_flops_per_sample() * B / best / 1e9;
}

/* GFLOP/s of a square n x n x n sgemm (the kernel's best case). */
static double gemm_square(int n, int reps)
{
    float *a = rand_buf((size_t)n * n), *bb = rand_buf((size_t)n * n), *c = rand_buf((size_t)n * n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, bb, n, 0.0f, c, n);
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, bb, n, 0.0f,
                    c, n);
        double dt = bench_now() - t;
        if (dt < best)
            best = dt;
    }
    free(a);
    free(bb);
    free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

/* Each call of the step timed alone, as the library makes it and in each of its 8
 * equivalent storage layouts (A stored transposed or not, B likewise, C stored transposed or
 * not: the same product, packed and blocked differently by OpenBLAS), best of `rounds`
 * interleaved slices of about `slice` seconds. Prints a line per call and returns the GFLOP/s
 * of the whole step with every call as made (*as_made) and with every call in its fastest
 * layout (*best_layout): how much a change of storage order could gain over the ceiling. */
static void gemm_layouts(int B, int rounds, double slice, double *as_made, double *best_layout)
{
    gemm_bufs bufs;
    gemm_bufs_create(&bufs, B);
    gemm_call calls[CALLS_PER_STEP];
    step_calls(&bufs, B, calls);
    size_t big = 0; /* the largest operand of any call, in whatever layout */
    for (int i = 0; i < CALLS_PER_STEP; i++) {
        const size_t M = (size_t)calls[i].M, N = (size_t)calls[i].N, K = (size_t)calls[i].K;
        const size_t sizes[3] = {M * K, K * N, M * N};
        for (int j = 0; j < 3; j++)
            big = sizes[j] > big ? sizes[j] : big;
    }
    float *a = rand_buf(big), *b = rand_buf(big), *c = rand_buf(big);
    double best[CALLS_PER_STEP][8];
    for (int i = 0; i < CALLS_PER_STEP; i++)
        for (int v = 0; v < 8; v++)
            best[i][v] = INFINITY;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < CALLS_PER_STEP; i++)
            for (int v = 0; v < 8; v++) {
                gemm_call g = calls[i];
                g.trans_a = v & 1;
                g.trans_b = (v >> 1) & 1;
                g.a = a;
                g.b = b;
                g.c = c;
                int iters = 0;
                const double t = bench_now();
                double dt;
                do {
                    gemm_run(&g, v >> 2);
                    iters++;
                } while ((dt = bench_now() - t) < slice);
                if (dt / iters < best[i][v])
                    best[i][v] = dt / iters;
            }
    double flops = 0.0, t_made = 0.0, t_best = 0.0;
    printf("%-24s %13s %10s %10s  %s\n", "call (batch, modality)", "M x N x K", "made GF/s",
           "best GF/s", "best layout");
    for (int i = 0; i < CALLS_PER_STEP; i++) {
        const gemm_call *g = &calls[i];
        const double f = 2.0 * g->M * (double)g->N * g->K;
        const int made = g->trans_a | g->trans_b << 1;
        int vb = 0;
        for (int v = 1; v < 8; v++)
            if (best[i][v] < best[i][vb])
                vb = v;
        flops += f;
        t_made += best[i][made];
        t_best += best[i][vb];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", g->M, g->N, g->K);
        /* N: stored as the library stores it for op = identity; T: stored transposed */
        printf("%-14s b%-4d m%d %13s %10.1f %10.1f  A:%c B:%c C:%c%s\n", g->name, B,
               i < 3 * N_MOD ? i / 3 : (i - 3 * N_MOD) / 5, shape, f / best[i][made] / 1e9,
               f / best[i][vb] / 1e9, vb & 1 ? 'T' : 'N', vb & 2 ? 'T' : 'N',
               vb & 4 ? 'T' : 'N', vb == made ? " (as made)" : "");
    }
    free(a);
    free(b);
    free(c);
    gemm_bufs_free(&bufs);
    *as_made = flops / t_made / 1e9;
    *best_layout = flops / t_best / 1e9;
}

/* ------------------------------------------------------------------ training */

typedef struct epoch_log {
    int n;
    double seconds[64];
    double stamp[64]; /* wall clock at the callback */
    int step[64];
    double heap[64];  /* heap in use at the callback (inside crmt_train) */
} epoch_log;

static int log_epoch(const crmt_epoch_stats *st, void *user)
{
    epoch_log *lg = user;
    if (lg->n < 64) {
        lg->seconds[lg->n] = st->seconds;
        lg->stamp[lg->n] = bench_now();
        lg->step[lg->n] = st->step;
        lg->heap[lg->n] = heap_bytes();
        lg->n++;
    }
    return 0;
}

typedef struct train_figures {
    double best, median;   /* samples/s */
    double heap_beyond;    /* heap bytes beyond data + params + grads at the last epoch */
    double params_bytes;
} train_figures;

static crmt_train_options train_opts(crmt_train_method method, int batch, int epochs)
{
    crmt_train_options o;
    bench_check(crmt_train_options_init(&o, sizeof o), "train_options_init");
    o.method = method;
    o.batch_size = batch;
    o.epochs = epochs;
    o.seed = 7;
    o.rho = 2.0;
    return o;
}

/* Train a fresh model for `epochs` epochs (after one warm-up epoch) and time each epoch. */
static train_figures bench_train_config(const synth *s, crmt_head_kind head,
                                        crmt_head_norm norm, crmt_train_method method,
                                        int batch, int epochs, crmt_model **keep)
{
    const double heap0 = heap_bytes();
    crmt_model *model = make_model_norm(head, norm, 1);
    crmt_optimizer *opt = make_sgd(model);
    train_figures fig;
    memset(&fig, 0, sizeof fig);
    fig.params_bytes = 2.0 * sizeof(float) * (double)crmt_model_num_parameters(model);
    crmt_train_options o = train_opts(method, batch, 1);
    crmt_train_result r = {.struct_size = sizeof r};
    bench_check(crmt_train(model, opt, s->ds, &o, &r), "crmt_train (warm-up)");
    epoch_log lg;
    memset(&lg, 0, sizeof lg);
    o.epochs = epochs;
    o.progress = log_epoch;
    o.progress_user_data = &lg;
    bench_check(crmt_train(model, opt, s->ds, &o, &r), "crmt_train");
    double rate[64];
    for (int e = 0; e < lg.n; e++)
        rate[e] = (double)s->n / lg.seconds[e];
    fig.best = 0.0;
    for (int e = 0; e < lg.n; e++)
        if (rate[e] > fig.best)
            fig.best = rate[e];
    fig.median = median(rate, lg.n);
    /* Heap at the last callback, minus what existed before the model (the data), minus
     * parameters and gradients: optimizer state, training workspace, batch buffers, the
     * divergence backup, the shuffle permutation (8 bytes per sample). */
    fig.heap_beyond = lg.heap[lg.n - 1] - heap0 - fig.params_bytes;
    crmt_optimizer_destroy(opt);
    if (keep)
        *keep = model;
    else
        crmt_model_destroy(model);
    return fig;
}

/* ------------------------------------------------------------------ main */

typedef struct config {
    int quick;
    size_t n;
    int epochs;
    const char *only;
    const char *method; /* train section: only "jt" or "crmt" (NULL: both) */
    int batch;          /* train section: only this batch size (0: 64 and 256) */
} config;

static int want(const config *c, const char *section)
{
    return !c->only || strcmp(c->only, section) == 0;
}

int main(int argc, char **argv)
{
    config cfg = {0, 10240, 5, NULL, NULL, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            cfg.quick = 1;
            cfg.n = 2048;
            cfg.epochs = 2;
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            cfg.n = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
            cfg.epochs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            cfg.only = argv[++i];
        } else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) {
            cfg.method = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            cfg.batch = atoi(argv[++i]);
        } else {
            fprintf(stderr,
                    "usage: %s [--quick] [--n N] [--epochs E] "
                    "[--only train|layouts|step2|certify|attack|memory|scaling] [--method jt|crmt|crmtrows] "
                    "[--batch B]\n"
                    "  --method / --batch restrict the train section (for profiling)\n",
                    argv[0]);
            return 2;
        }
    }
    if (cfg.n < 512 || cfg.epochs < 1 || cfg.epochs > 60) {
        fprintf(stderr, "bench_train: need --n >= 512 and 1 <= --epochs <= 60\n");
        return 2;
    }
    bench_start("bench_train");
    const char *threads_env = getenv("OPENBLAS_NUM_THREADS");
    const char *core_env = getenv("OPENBLAS_CORETYPE");
    printf("bench_train: libcrmt %s, OpenBLAS kernel %s, %d BLAS thread(s) "
           "(OPENBLAS_NUM_THREADS=%s, OPENBLAS_CORETYPE=%s)\n",
           crmt_version_string(), bench_kernel, openblas_get_num_threads(),
           threads_env ? threads_env : "unset", core_env ? core_env : "unset");
    printf("model: inputs 512 + 256, encoders 256-ReLU-128, %d classes; %.3f MFLOP sgemm per "
           "training sample (forward + backward); n = %zu, %d timed epochs%s\n",
           N_CLASSES, train_flops_per_sample() / 1e6, cfg.n, cfg.epochs,
           cfg.quick ? " (quick)" : "");
    bench_result("config_n", (double)cfg.n, "samples");
    bench_result("train_flops_per_sample", train_flops_per_sample(), "FLOP");

    synth data;
    synth_create(&data, cfg.n, 1);
    const double data_bytes = synth_bytes(&data);
    crmt_model *crmt_model_trained = NULL;
    const int batches[2] = {64, 256};
    const double gemm_seconds = cfg.quick ? 0.2 : 1.0;

    if (want(&cfg, "train")) {
        printf("\n== training (crmt_train, SGD momentum 0.9, one thread) [kernel %s] ==\n",
               bench_kernel);
        printf("%-10s %6s %12s %12s %10s %12s %12s %9s\n", "method", "batch", "best/s",
               "median/s", "GFLOP/s", "sgemm GF/s", "sgemm smp/s", "of sgemm");
        double square = cfg.method ? NAN : gemm_square(cfg.quick ? 512 : 1024, cfg.quick ? 3 : 5);
        for (int bi = 0; bi < 2; bi++) {
            const int B = batches[bi];
            if (cfg.batch && cfg.batch != B)
                continue;
            /* The ceiling: the same sgemm calls alone, timed before and after the training
             * runs of this batch size (the higher of the two: on a shared machine contention
             * only ever lowers a figure). --method (profiling runs): no ceiling timing. */
            double ceil_rate = 0.0, ceil_rate2 = 0.0;
            double ceil_gf = cfg.method ? NAN : gemm_ceiling(B, gemm_seconds, 5, &ceil_rate);
            /* JT; CRMT-JT with orthonormal head rows (the library default here); CRMT-JT
             * with row-normalised rows (the official release's head) */
            static const char *const mnames[3] = {"jt", "crmt", "crmtrows"};
            static const char *const labels[3] = {"JT", "CRMT-JT", "CRMT-rows"};
            train_figures figs[3];
            int ran[3] = {0, 0, 0};
            for (int meth = 0; meth < 3; meth++) {
                const int is_crmt = meth >= 1;
                if (cfg.method && strcmp(cfg.method, mnames[meth]) != 0)
                    continue;
                figs[meth] = bench_train_config(
                    &data, is_crmt ? CRMT_HEAD_CRMT : CRMT_HEAD_JT,
                    meth == 2 ? CRMT_NORM_ROWS : CRMT_NORM_ORTHONORMAL,
                    is_crmt ? CRMT_METHOD_CRMT : CRMT_METHOD_JT, B, cfg.epochs,
                    (meth == 1 && B == 256) ? &crmt_model_trained : NULL);
                ran[meth] = 1;
            }
            if (!cfg.method) {
                double g2 = gemm_ceiling(B, gemm_seconds, 5, &ceil_rate2);
                if (g2 > ceil_gf) {
                    ceil_gf = g2;
                    ceil_rate = ceil_rate2;
                }
            }
            char name[96];
            snprintf(name, sizeof name, "sgemm_ceiling_b%d", B);
            bench_result(name, ceil_gf, "GFLOP/s");
            snprintf(name, sizeof name, "sgemm_ceiling_samples_b%d", B);
            bench_result(name, ceil_rate, "samples/s");
            for (int meth = 0; meth < 3; meth++) {
                if (!ran[meth])
                    continue;
                const train_figures f = figs[meth];
                const char *mname = mnames[meth];
                const double gf = f.best * train_flops_per_sample() / 1e9;
                printf("%-10s %6d %12.0f %12.0f %10.1f %12.1f %12.0f %8.0f%%\n", labels[meth],
                       B, f.best, f.median, gf, ceil_gf, ceil_rate, 100.0 * gf / ceil_gf);
                snprintf(name, sizeof name, "train_%s_b%d_best", mname, B);
                bench_result(name, f.best, "samples/s");
                snprintf(name, sizeof name, "train_%s_b%d_median", mname, B);
                bench_result(name, f.median, "samples/s");
                snprintf(name, sizeof name, "train_%s_b%d_gflops", mname, B);
                bench_result(name, gf, "GFLOP/s");
                snprintf(name, sizeof name, "train_%s_b%d_of_sgemm", mname, B);
                bench_result(name, 100.0 * gf / ceil_gf, "percent");
                snprintf(name, sizeof name, "train_%s_b%d_heap_beyond_data_params", mname, B);
                bench_result(name, f.heap_beyond, "bytes");
            }
        }
        printf("square sgemm %d^3: %.1f GFLOP/s [kernel %s]\n", cfg.quick ? 512 : 1024, square,
               bench_kernel);
        bench_result("sgemm_square", square, "GFLOP/s");
    }

    if (want(&cfg, "layouts")) {
        printf("\n== the step's sgemm calls alone, in every storage layout [kernel %s] ==\n",
               bench_kernel);
        for (int bi = 0; bi < 2; bi++) {
            const int B = batches[bi];
            if (cfg.batch && cfg.batch != B)
                continue;
            double made = 0.0, best = 0.0;
            gemm_layouts(B, cfg.quick ? 2 : 30, cfg.quick ? 2e-4 : 1e-3, &made, &best);
            const double best_rate = best * 1e9 / train_flops_per_sample();
            printf("batch %d: calls as made %.1f GFLOP/s; every call in its fastest layout %.1f "
                   "GFLOP/s (%+.1f%%) = %.0f samples/s [kernel %s]\n",
                   B, made, best, 100.0 * (best / made - 1.0), best_rate, bench_kernel);
            char name[96];
            snprintf(name, sizeof name, "sgemm_isolated_b%d", B);
            bench_result(name, made, "GFLOP/s");
            snprintf(name, sizeof name, "sgemm_best_layout_b%d", B);
            bench_result(name, best, "GFLOP/s");
            snprintf(name, sizeof name, "sgemm_best_layout_samples_b%d", B);
            bench_result(name, best_rate, "samples/s");
        }
    }

    if (!crmt_model_trained && (want(&cfg, "step2") || want(&cfg, "certify") ||
                                want(&cfg, "attack"))) {
        crmt_model_trained = make_model(CRMT_HEAD_CRMT, 1);
        crmt_optimizer *opt = make_sgd(crmt_model_trained);
        crmt_train_options o = train_opts(CRMT_METHOD_CRMT, 256, 2);
        bench_check(crmt_train(crmt_model_trained, opt, data.ds, &o, NULL), "crmt_train");
        crmt_optimizer_destroy(opt);
    }

    if (want(&cfg, "step2")) {
        printf("\n== CRMT step 2 (integration weights, sound constants, batch 256) "
               "[kernel %s] ==\n",
               bench_kernel);
        /* A copy of the trained model: one step-1 epoch, then timed step-2 epochs. */
        crmt_model *m2 = NULL;
        size_t sz = 0;
        bench_check(crmt_model_save_buffer(crmt_model_trained, NULL, 0, &sz), "save_buffer size");
        void *buf = xmalloc(sz);
        bench_check(crmt_model_save_buffer(crmt_model_trained, buf, sz, &sz), "save_buffer");
        bench_check(crmt_model_load_buffer(&m2, buf, sz), "load_buffer");
        free(buf);
        crmt_optimizer *opt = make_sgd(m2);
        const int s2 = cfg.quick ? 3 : 10;
        crmt_train_options o = train_opts(CRMT_METHOD_CRMT, 256, 1);
        o.integration_epochs = s2;
        o.integration_max_accuracy_drop = 1.0; /* time every epoch: never undo */
        epoch_log lg;
        memset(&lg, 0, sizeof lg);
        o.progress = log_epoch;
        o.progress_user_data = &lg;
        crmt_train_result r = {.struct_size = sizeof r};
        bench_check(crmt_train(m2, opt, data.ds, &o, &r), "crmt_train (step 2)");
        /* lg: step-1 epoch, then one entry per step-2 epoch. */
        double ep[64];
        int ne = 0;
        double setup = 0.0;
        for (int e = 1; e < lg.n; e++) {
            if (lg.step[e] != 2)
                continue;
            if (lg.step[e - 1] == 1)
                setup = lg.stamp[e] - lg.stamp[e - 1]; /* setup + first epoch */
            else
                ep[ne++] = lg.stamp[e] - lg.stamp[e - 1];
        }
        if (ne == 0) {
            printf("step 2 ran %d epochs: too few to time\n", r.integration_epochs_run);
        } else {
            double med = median(ep, ne);
            setup -= med;
            printf("%d epochs over %zu samples: setup (sound constants + logit cache) %.1f ms, "
                   "%.1f epochs/s (median), %.0f samples/s; radius %.4f -> %.4f\n",
                   r.integration_epochs_run, data.n, 1e3 * setup, 1.0 / med,
                   (double)data.n / med, r.radius_before_step2, r.radius_after_step2);
            bench_result("step2_setup", 1e3 * setup, "ms");
            bench_result("step2_epochs_per_s", 1.0 / med, "epochs/s");
            bench_result("step2_samples_per_s", (double)data.n / med, "samples/s");
        }
        crmt_optimizer_destroy(opt);
        crmt_model_destroy(m2);
    }

    if (want(&cfg, "certify")) {
        const size_t nc = cfg.quick ? 1024 : 8192 < data.n ? 8192 : data.n;
        printf("\n== certification (crmt_certify_batch, sound bounds, %zu samples) [kernel %s] "
               "==\n",
               nc, bench_kernel);
        crmt_certifier *cert = NULL;
        double t = bench_now();
        bench_check(crmt_certifier_create(&cert, crmt_model_trained, NULL), "certifier_create");
        const double t_create = bench_now() - t;
        crmt_certificate *out = xmalloc(sizeof(crmt_certificate) * nc);
        out[0].struct_size = sizeof(crmt_certificate);
        const float *in[N_MOD] = {data.x[0], data.x[1]};
        bench_check(crmt_certify_batch(cert, in, nc, data.y, out), "certify_batch (warm-up)");
        const int reps = cfg.quick ? 2 : 5;
        double best = INFINITY, times[16];
        for (int r = 0; r < reps; r++) {
            out[0].struct_size = sizeof(crmt_certificate);
            t = bench_now();
            bench_check(crmt_certify_batch(cert, in, nc, data.y, out), "certify_batch");
            times[r] = bench_now() - t;
            if (times[r] < best)
                best = times[r];
        }
        size_t certified = 0;
        for (size_t i = 0; i < nc; i++)
            certified += (size_t)out[i].certified;
        printf("certifier create (sound Lipschitz constants): %.1f ms; certify: %.0f "
               "certificates/s (best of %d), median %.0f; %zu of %zu certified\n",
               1e3 * t_create, (double)nc / best, reps, (double)nc / median(times, reps),
               certified, nc);
        bench_result("certifier_create", 1e3 * t_create, "ms");
        bench_result("certify_per_s", (double)nc / best, "certificates/s");
        free(out);
        crmt_certifier_destroy(cert);
    }

    if (want(&cfg, "attack")) {
        const size_t na = cfg.quick ? 512 : 4096 < data.n ? 4096 : data.n;
        printf("\n== PGD attack (crmt_attack, official preset: eps 0.2, 4 steps of eps/3, "
               "%zu samples) [kernel %s] ==\n",
               na, bench_kernel);
        crmt_attack_options ao;
        bench_check(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_PGD), "attack opts");
        float *adv[N_MOD];
        for (int m = 0; m < N_MOD; m++)
            adv[m] = xmalloc(sizeof(float) * na * (size_t)input_dim[m]);
        int32_t *pred = xmalloc(sizeof(int32_t) * na);
        const float *in[N_MOD] = {data.x[0], data.x[1]};
        bench_check(crmt_attack(crmt_model_trained, in, data.y, na, &ao, adv, pred), "attack (warm)");
        const int reps = cfg.quick ? 2 : 5;
        double best = INFINITY;
        for (int r = 0; r < reps; r++) {
            double t = bench_now();
            bench_check(crmt_attack(crmt_model_trained, in, data.y, na, &ao, adv, pred), "attack");
            double dt = bench_now() - t;
            if (dt < best)
                best = dt;
        }
        size_t correct = 0;
        for (size_t i = 0; i < na; i++)
            correct += pred[i] == data.y[i];
        printf("%.0f samples/s (best of %d); accuracy under attack %.3f\n", (double)na / best,
               reps, (double)correct / (double)na);
        bench_result("attack_pgd_per_s", (double)na / best, "samples/s");
        for (int m = 0; m < N_MOD; m++)
            free(adv[m]);
        free(pred);
    }
    crmt_model_destroy(crmt_model_trained);

    if (want(&cfg, "train") || want(&cfg, "memory")) {
        printf("\n== memory [kernel %s] ==\n", bench_kernel);
        /* The CRMT-JT batch-256 run: heap in use at its last epoch, beyond data and
         * parameters + gradients. */
        crmt_model *mm = make_model(CRMT_HEAD_CRMT, 1);
        const double params = (double)crmt_model_num_parameters(mm) * sizeof(float);
        crmt_model_destroy(mm);
        train_figures f = bench_train_config(&data, CRMT_HEAD_CRMT, CRMT_NORM_ORTHONORMAL,
                                             CRMT_METHOD_CRMT, 256, 1, NULL);
        printf("dataset %.2f MB, parameters %.2f MB (+ gradients %.2f MB); heap beyond data + "
               "parameters + gradients during CRMT-JT batch 256: %.2f MB (optimizer momentum, "
               "workspace, batch buffers, divergence backup, %zu-sample shuffle permutation)\n",
               data_bytes / 1e6, params / 1e6, params / 1e6, f.heap_beyond / 1e6, data.n);
        bench_result("data_bytes", data_bytes, "bytes");
        bench_result("param_bytes", params, "bytes");
        bench_result("heap_beyond_data_params_grads", f.heap_beyond, "bytes");
    }
    synth_free(&data);

    if (want(&cfg, "scaling")) {
        const size_t base = cfg.quick ? 2048 : 10000;
        printf("\n== scaling (CRMT-JT, batch 256, best of %d epochs) [kernel %s] ==\n",
               cfg.quick ? 1 : 2, bench_kernel);
        printf("%10s %12s %14s %14s %20s\n", "samples", "epoch s", "us/sample", "dataset MB",
               "heap beyond data MB");
        double t_base = 0.0, beyond_base = 0.0;
        for (int k = 0; k < 3; k++) {
            const size_t n = base << k;
            synth s;
            synth_create(&s, n, 2 + (uint64_t)k);
            const double heap_data = heap_bytes();
            crmt_model *model = make_model(CRMT_HEAD_CRMT, 1);
            crmt_optimizer *opt = make_sgd(model);
            epoch_log lg;
            memset(&lg, 0, sizeof lg);
            crmt_train_options o = train_opts(CRMT_METHOD_CRMT, 256, cfg.quick ? 1 : 2);
            o.progress = log_epoch;
            o.progress_user_data = &lg;
            bench_check(crmt_train(model, opt, s.ds, &o, NULL), "crmt_train (scaling)");
            double best = INFINITY;
            for (int e = 0; e < lg.n; e++)
                if (lg.seconds[e] < best)
                    best = lg.seconds[e];
            /* heap in use inside crmt_train (at its epoch callbacks; steps do not allocate,
             * so this is the peak) beyond the dataset: model, gradients, optimizer,
             * training state, shuffle permutation */
            double peak_heap = 0.0;
            for (int e = 0; e < lg.n; e++)
                if (lg.heap[e] > peak_heap)
                    peak_heap = lg.heap[e];
            const double beyond = peak_heap - heap_data;
            if (k == 0) {
                t_base = best;
                beyond_base = beyond;
            }
            printf("%10zu %12.3f %14.2f %14.1f %20.3f   (x%.2f time for x%d samples; +%.1f "
                   "bytes per added sample)\n",
                   n, best, 1e6 * best / (double)n, synth_bytes(&s) / 1e6, beyond / 1e6,
                   best / t_base, 1 << k,
                   k ? (beyond - beyond_base) / (double)(n - base) : 0.0);
            char name[96];
            snprintf(name, sizeof name, "scaling_epoch_s_%d", k);
            bench_result(name, best, "s");
            snprintf(name, sizeof name, "scaling_n_%d", k);
            bench_result(name, (double)n, "samples");
            snprintf(name, sizeof name, "scaling_heap_beyond_data_%d", k);
            bench_result(name, beyond, "bytes");
            crmt_optimizer_destroy(opt);
            crmt_model_destroy(model);
            synth_free(&s);
        }
    }
    printf("\npeak resident memory of the whole run (getrusage ru_maxrss): %.1f MB [kernel %s]\n",
           max_rss_bytes() / 1e6, bench_kernel);
    bench_result("peak_rss", max_rss_bytes(), "bytes");
    return 0;
}
