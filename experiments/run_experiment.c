/* run_experiment: one CRMT experiment from the command line (docs/results.md,
 * scripts/run-experiments.sh).
 *
 * Loads a prepared multi-modal dataset (.npy files DIR/{train,val,test}_{m0,m1,...,y}.npy as
 * written by scripts/prepare-satellite.sh and scripts/prepare-avdigits.sh, or the digits
 * set of tests/support with a validation split carved from its training part), builds one
 * encoder per modality from a small spec, and for every requested method:
 *   1. model selection on the VALIDATION split: a grid of exactly 4 candidates for every
 *      method (the same budget), trained with the first seed; the candidate of highest
 *      validation accuracy wins (ties: the lower validation cross-entropy of the fused
 *      logits);
 *   2. the chosen hyperparameters trained again for the remaining seeds (the first seed's
 *      model is the selected candidate itself);
 *   3. each seed's model evaluated once on the TEST split with crmt_evaluate (clean; joint
 *      l2 FGM / PGD with the official presets; uni-modal FGM / PGD per modality; accuracy
 *      with each modality missing, filled with the training mean (main figure) and with
 *      zeros; sound certified accuracy at the given radii, jointly and per modality; mean
 *      certified radius, jointly and per modality);
 *   4. mean and sample standard deviation over the seeds, printed as markdown table rows
 *      (and appended to --md PREFIX files), with the chosen hyperparameters and wall times.
 *
 * Usage: run_experiment --data DIR | --digits unbalanced|balanced  --method LIST [options]
 * Run with --help for the options.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <crmt/crmt.h>

#include "digits.h"

#define MAX_MOD 8
#define MAX_SEEDS 16
#define MAX_RADII 8
#define N_CAND 4
#define MAX_LAYERS 32

/* Stop on a failed call, printing the message of whoever failed: the library (CHECK) or
 * the digits loader (CHECK_DIGITS, digits.h). */
#define CHECK_MSG(call, message)                                                     \
    do {                                                                             \
        crmt_status st_ = (call);                                                    \
        if (st_ != CRMT_OK) {                                                        \
            fprintf(stderr, "run_experiment: %s failed: %s: %s\n", #call,            \
                    crmt_status_string(st_), (message));                             \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)
#define CHECK(call) CHECK_MSG(call, crmt_last_error())
#define CHECK_DIGITS(call) CHECK_MSG(call, crmt_digits_last_error())

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "run_experiment: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- methods and grids */

enum grid_kind {
    GRID_LR,       /* 4 learning rates */
    GRID_LR_RHO,   /* 2 learning rates x 2 rho */
    GRID_LR_ATEPS  /* 2 learning rates x 2 AT epsilons */
};

typedef struct method_def {
    const char *key;   /* command-line name */
    const char *label; /* table label */
    crmt_head_kind head;
    crmt_train_method method;
    enum grid_kind grid;
    int step2;    /* run step 2 (integration weights) */
    int rho_zero; /* rho forced to 0 */
} method_def;

static const method_def methods[] = {
    {"jt", "JT", CRMT_HEAD_JT, CRMT_METHOD_JT, GRID_LR, 0, 0},
    {"jt-at", "JT+AT", CRMT_HEAD_JT, CRMT_METHOD_JT_AT, GRID_LR_ATEPS, 0, 0},
    {"jt-mixup", "JT+Mixup", CRMT_HEAD_JT, CRMT_METHOD_JT_MIXUP, GRID_LR, 0, 0},
    {"crmt-jt", "CRMT-JT", CRMT_HEAD_CRMT, CRMT_METHOD_CRMT, GRID_LR_RHO, 1, 0},
    {"crmt-at", "CRMT-AT", CRMT_HEAD_CRMT, CRMT_METHOD_CRMT_AT, GRID_LR_RHO, 1, 0},
    {"crmt-mix", "CRMT-Mix", CRMT_HEAD_CRMT, CRMT_METHOD_CRMT_MIX, GRID_LR_RHO, 1, 0},
    {"ojt", "orthogonal head only", CRMT_HEAD_CRMT, CRMT_METHOD_JT, GRID_LR, 0, 0},
    {"step1", "step 1 only", CRMT_HEAD_CRMT, CRMT_METHOD_CRMT, GRID_LR_RHO, 0, 0},
    {"step2", "step 2 only (rho 0)", CRMT_HEAD_CRMT, CRMT_METHOD_CRMT, GRID_LR, 1, 1},
};
#define N_METHODS_DEF (sizeof methods / sizeof methods[0])

/* One hyperparameter candidate. */
typedef struct candidate {
    double lr, rho, at_eps;
} candidate;

/* ---------------------------------------------------------------- options */

typedef struct options {
    const char *data_dir;
    int digits_view; /* -1 = not digits */
    const char *name;
    const char *enc[MAX_MOD]; /* per-modality encoder spec */
    const char *enc_all;
    const char *mod_names[MAX_MOD];
    int n_method;
    const method_def *method[N_METHODS_DEF];
    int n_seeds;
    uint64_t seed0;
    int epochs, batch;
    double momentum, wd;
    double a_init; /* CRMT_SPEC_INTEGRATION_INIT (official 0.1) */
    int cosine; /* 1: cosine learning-rate decay to 0 over the step-1 epochs */
    double lr4[4], lr2[2], lr2_at[2], rho2[2], ateps2[2];
    double at_eps; /* CRMT-AT's AT epsilon */
    double rho_fixed; /* rho of methods that do not search it (unused for JT) */
    int int_epochs;
    double int_lr, int_drop;
    int fill_zeros; /* main missing-modality fill: 0 = training mean, 1 = zeros */
    double radii[MAX_RADII];
    int n_radii;
    double eps; /* attack budget (FGM and PGD) */
    int pgd_steps;
    size_t train_limit; /* 0 = all */
    const char *md_prefix;
    const char *raw_path;
    int eval_batch;
} options;

static void usage(void)
{
    printf(
        "usage: run_experiment (--data DIR | --digits unbalanced|balanced) --method LIST [options]\n"
        "\n"
        "data\n"
        "  --data DIR          DIR/{train,val,test}_{m0,m1,...,y}.npy (m0.. up to m7, as many as exist)\n"
        "  --digits VIEW       tests/support digits (unbalanced: rows 0-1 / 2-7; balanced: 0-3 / 4-7);\n"
        "                      validation = 20%% of its training part (seeded), test = its test split\n"
        "  --train-limit N     use only the first N training samples (default all)\n"
        "  --name TEXT         label printed with the results\n"
        "  --modality-names A,B,...  names of the modalities in the output (default m0,m1,...)\n"
        "model (encoders)\n"
        "  --enc SPEC          encoder of every modality (default mlp:256:128)\n"
        "  --enc M=SPEC        encoder of modality M\n"
        "     SPEC: comma-separated layers: lin:N, relu, mlp:N1:N2:... (= lin:N1,relu,lin:N2,...),\n"
        "     img:CxHxW (first: the input is an image), conv:OUT:K:S:P, maxpool:K:S, avgpool:K:S,\n"
        "     flatten\n"
        "methods (comma list, or 'all', 'table' = the six methods, 'ablation' = the ablation)\n"
        "  jt jt-at jt-mixup crmt-jt crmt-at crmt-mix ojt step1 step2\n"
        "training\n"
        "  --seeds N           seeds per method (default 3); --seed S first seed (default 1)\n"
        "  --epochs N          step-1 epochs (default 30); --batch N (64)\n"
        "  --momentum X (0.9)  --wd X (1e-4): SGD\n"
        "  --schedule constant|cosine  learning rate schedule (default constant; cosine decays\n"
        "                      to 0 over the step-1 epochs)\n"
"  --a-init X          initial integration weights a of CRMT heads (default 0.1, official)\n"
        "  --lr4 a,b,c,d       grid of methods searching lr only (jt, jt-mixup, ojt, step2;\n"
        "                      default 0.05,0.02,0.01,0.005)\n"
        "  --lr2 a,b           learning rates of crmt-jt, crmt-at, crmt-mix, step1 (x rho;\n"
        "                      default 0.02,0.005)\n"
        "  --rho2 a,b          rho values of those grids (default 0.03,0.3)\n"
        "  --lr2-at a,b        learning rates of jt-at (x AT eps; default 0.02,0.01)\n"
        "  --at-eps2 a,b       AT epsilons of jt-at (default 0.1,0.2)\n"
        "  --at-eps X          AT epsilon of crmt-at (default 0.1, official)\n"
        "  --int-epochs N      step-2 epochs (default 10); --int-lr X (0.002); --int-drop X (0.01)\n"
        "evaluation\n"
        "  --fill mean|zeros   missing-modality fill of the main table (default mean = training mean)\n"
        "  --radii a,b,...     certified-accuracy radii (default 0.05,0.1,0.2,0.5)\n"
        "  --eps X             FGM / PGD l2 budget, joint and uni-modal (default 0.2, official)\n"
        "  --pgd-steps N       PGD steps of eps/3 (default 4, official)\n"
        "output\n"
        "  --md PREFIX         append table rows to PREFIX-robust.md, PREFIX-cert.md, PREFIX-pref.md\n"
        "  --raw FILE          append one tab-separated line per seed and method\n");
}

static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v) || n >= max)
            return -1;
        out[n++] = v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static long parse_long(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("bad integer '%s'", s);
    return v;
}

static double parse_double(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        die("bad number '%s'", s);
    return v;
}

static void parse_fixed(const char *s, double *out, int n)
{
    if (parse_list(s, out, n) != n)
        die("expected a list of the right length: '%s'", s);
}

static void add_method(options *o, const char *key)
{
    for (size_t i = 0; i < N_METHODS_DEF; i++)
        if (strcmp(methods[i].key, key) == 0) {
            for (int k = 0; k < o->n_method; k++)
                if (o->method[k] == &methods[i])
                    return;
            o->method[o->n_method++] = &methods[i];
            return;
        }
    die("unknown method '%s'", key);
}

static void parse_methods(options *o, const char *list)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        die("method list too long: %s", list);
    strcpy(buf, list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strcmp(tok, "all") == 0) {
            for (size_t i = 0; i < N_METHODS_DEF; i++)
                add_method(o, methods[i].key);
        } else if (strcmp(tok, "table") == 0) {
            const char *t[] = {"jt", "jt-at", "jt-mixup", "crmt-jt", "crmt-at", "crmt-mix"};
            for (size_t i = 0; i < 6; i++)
                add_method(o, t[i]);
        } else if (strcmp(tok, "ablation") == 0) {
            const char *t[] = {"jt", "ojt", "step1", "step2", "crmt-jt"};
            for (size_t i = 0; i < 5; i++)
                add_method(o, t[i]);
        } else {
            add_method(o, tok);
        }
    }
}

static void parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->digits_view = -1;
    o->name = "";
    o->enc_all = "mlp:256:128";
    o->n_seeds = 3;
    o->seed0 = 1;
    o->epochs = 30;
    o->batch = 64;
    o->momentum = 0.9;
    o->wd = 1e-4;
    const double lr4[4] = {0.05, 0.02, 0.01, 0.005};
    memcpy(o->lr4, lr4, sizeof lr4);
    o->lr2[0] = 0.02;
    o->lr2[1] = 0.005;
    o->lr2_at[0] = 0.02;
    o->lr2_at[1] = 0.01;
    o->rho2[0] = 0.03;
    o->rho2[1] = 0.3;
    o->ateps2[0] = 0.1;
    o->ateps2[1] = 0.2;
    o->at_eps = 0.1;
    o->a_init = 0.1;
    o->int_epochs = 10;
    o->int_lr = 0.002;
    o->int_drop = 0.01;
    const double radii[4] = {0.05, 0.1, 0.2, 0.5};
    memcpy(o->radii, radii, sizeof radii);
    o->n_radii = 4;
    o->eps = 0.2;
    o->pgd_steps = 4;
    o->eval_batch = 256;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        }
        if (i + 1 >= argc)
            die("option %s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--data") == 0) {
            o->data_dir = v;
        } else if (strcmp(a, "--digits") == 0) {
            if (strcmp(v, "unbalanced") == 0)
                o->digits_view = CRMT_DIGITS_VIEW_UNBALANCED;
            else if (strcmp(v, "balanced") == 0)
                o->digits_view = CRMT_DIGITS_VIEW_BALANCED;
            else
                die("--digits: unbalanced or balanced, not '%s'", v);
        } else if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else if (strcmp(a, "--modality-names") == 0) {
            static char names_buf[512];
            if (strlen(v) >= sizeof names_buf)
                die("--modality-names too long: %s", v);
            strcpy(names_buf, v);
            int m = 0;
            for (char *tok = strtok(names_buf, ","); tok && m < MAX_MOD;
                 tok = strtok(NULL, ","))
                o->mod_names[m++] = tok;
        } else if (strcmp(a, "--enc") == 0) {
            if (v[0] >= '0' && v[0] <= '9' && v[1] == '=') {
                o->enc[v[0] - '0'] = v + 2;
            } else {
                o->enc_all = v;
            }
        } else if (strcmp(a, "--method") == 0) {
            parse_methods(o, v);
        } else if (strcmp(a, "--seeds") == 0) {
            o->n_seeds = (int)parse_long(v, 1, MAX_SEEDS);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed0 = (uint64_t)parse_long(v, 0, 1000000000L);
        } else if (strcmp(a, "--epochs") == 0) {
            o->epochs = (int)parse_long(v, 1, 100000);
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = (int)parse_long(v, 1, 1000000);
        } else if (strcmp(a, "--momentum") == 0) {
            o->momentum = parse_double(v);
        } else if (strcmp(a, "--a-init") == 0) {
            o->a_init = parse_double(v);
        } else if (strcmp(a, "--schedule") == 0) {
            if (strcmp(v, "constant") == 0)
                o->cosine = 0;
            else if (strcmp(v, "cosine") == 0)
                o->cosine = 1;
            else
                die("--schedule: constant or cosine, not '%s'", v);
        } else if (strcmp(a, "--wd") == 0) {
            o->wd = parse_double(v);
        } else if (strcmp(a, "--lr4") == 0) {
            parse_fixed(v, o->lr4, 4);
        } else if (strcmp(a, "--lr2") == 0) {
            parse_fixed(v, o->lr2, 2);
        } else if (strcmp(a, "--lr2-at") == 0) {
            parse_fixed(v, o->lr2_at, 2);
        } else if (strcmp(a, "--rho2") == 0) {
            parse_fixed(v, o->rho2, 2);
        } else if (strcmp(a, "--at-eps2") == 0) {
            parse_fixed(v, o->ateps2, 2);
        } else if (strcmp(a, "--at-eps") == 0) {
            o->at_eps = parse_double(v);
        } else if (strcmp(a, "--int-epochs") == 0) {
            o->int_epochs = (int)parse_long(v, 0, 100000);
        } else if (strcmp(a, "--int-lr") == 0) {
            o->int_lr = parse_double(v);
        } else if (strcmp(a, "--int-drop") == 0) {
            o->int_drop = parse_double(v);
        } else if (strcmp(a, "--fill") == 0) {
            if (strcmp(v, "mean") == 0)
                o->fill_zeros = 0;
            else if (strcmp(v, "zeros") == 0)
                o->fill_zeros = 1;
            else
                die("--fill: mean or zeros, not '%s'", v);
        } else if (strcmp(a, "--radii") == 0) {
            o->n_radii = parse_list(v, o->radii, MAX_RADII);
            if (o->n_radii < 1)
                die("bad --radii '%s'", v);
        } else if (strcmp(a, "--eps") == 0) {
            o->eps = parse_double(v);
        } else if (strcmp(a, "--pgd-steps") == 0) {
            o->pgd_steps = (int)parse_long(v, 1, 1000);
        } else if (strcmp(a, "--train-limit") == 0) {
            o->train_limit = (size_t)parse_long(v, 1, 100000000L);
        } else if (strcmp(a, "--md") == 0) {
            o->md_prefix = v;
        } else if (strcmp(a, "--raw") == 0) {
            o->raw_path = v;
        } else {
            die("unknown option %s (see --help)", a);
        }
    }
    if (!o->data_dir == (o->digits_view < 0))
        die("%s", "give exactly one of --data DIR and --digits VIEW");
    if (o->n_method == 0)
        die("%s", "no --method given");
}

/* ---------------------------------------------------------------- data */

/* Number of rows (first dimension) of an .npy file; -1 on failure. The library validates
 * the file completely when it loads it; this only reads the shape to size the dataset. */
static long npy_rows(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[12];
    long rows = -1;
    if (!f)
        return -1;
    if (fread(head, 1, 10, f) == 10 && memcmp(head, "\x93NUMPY", 6) == 0) {
        size_t hlen;
        if (head[6] == 1) {
            hlen = (size_t)head[8] | (size_t)head[9] << 8;
        } else {
            if (fread(head + 10, 1, 2, f) != 2) {
                fclose(f);
                return -1;
            }
            hlen = (size_t)head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 |
                   (size_t)head[11] << 24;
        }
        if (hlen > 0 && hlen < 65536) {
            char *h = malloc(hlen + 1);
            if (h && fread(h, 1, hlen, f) == hlen) {
                h[hlen] = 0;
                const char *p = strstr(h, "'shape':");
                if (p && (p = strchr(p, '(')) != NULL)
                    rows = strtol(p + 1, NULL, 10);
            }
            free(h);
        }
    }
    fclose(f);
    return rows;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static crmt_dataset *load_split(const char *dir, const char *split, int *n_mod)
{
    char path[4096];
    int m = 0;
    while (m < MAX_MOD) {
        snprintf(path, sizeof path, "%s/%s_m%d.npy", dir, split, m);
        if (!file_exists(path))
            break;
        m++;
    }
    if (m == 0)
        die("no modality files %s_m0.npy in the data folder", split);
    snprintf(path, sizeof path, "%s/%s_y.npy", dir, split);
    long n = npy_rows(path);
    if (n < 1)
        die("cannot read the shape of %s", path);
    crmt_dataset *d;
    CHECK(crmt_dataset_create(&d, (size_t)n, m));
    CHECK(crmt_dataset_load_npy_labels(d, path));
    for (int k = 0; k < m; k++) {
        snprintf(path, sizeof path, "%s/%s_m%d.npy", dir, split, k);
        CHECK(crmt_dataset_load_npy_modality(d, k, path));
    }
    *n_mod = m;
    return d;
}

static crmt_dataset *take_first(crmt_dataset *d, size_t n)
{
    if (n == 0 || n >= crmt_dataset_num_samples(d))
        return d;
    size_t *idx = malloc(n * sizeof *idx);
    crmt_dataset *out;
    if (!idx)
        exit(1);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    CHECK(crmt_dataset_subset(&out, d, idx, n));
    free(idx);
    crmt_dataset_destroy(d);
    return out;
}

static int n_classes_of(const crmt_dataset *const *sets, int n_sets)
{
    int k = 0;
    for (int s = 0; s < n_sets; s++) {
        const int32_t *y = crmt_dataset_labels(sets[s]);
        for (size_t i = 0; i < crmt_dataset_num_samples(sets[s]); i++)
            if (y[i] + 1 > k)
                k = y[i] + 1;
    }
    return k;
}

/* ---------------------------------------------------------------- encoders */

/* Build modality m's encoder from spec text (see usage) on spec. */
static void add_encoder(crmt_spec *spec, const char *name, int input_dim, const char *text)
{
    char buf[1024];
    int m, c, h, w;
    if (strlen(text) >= sizeof buf)
        die("encoder spec too long: %s", text);
    strcpy(buf, text);
    char *tok = strtok(buf, ",");
    if (tok && sscanf(tok, "img:%dx%dx%d", &c, &h, &w) == 3) {
        if (c * h * w != input_dim)
            die("image shape of '%s' does not match the modality's input size", text);
#ifdef RUNEXP_HAVE_CONV
        CHECK(crmt_spec_add_modality_image(spec, name, c, h, w, &m));
#else
        die("%s: this build of libcrmt has no image modalities / convolutions", text);
#endif
        tok = strtok(NULL, ",");
    } else {
        CHECK(crmt_spec_add_modality(spec, name, input_dim, &m));
    }
    for (; tok; tok = strtok(NULL, ",")) {
        int a = 0, b = 0, s = 0, p = 0;
        (void)b;
        (void)s;
        (void)p;
        if (sscanf(tok, "lin:%d", &a) == 1) {
            CHECK(crmt_spec_add_linear(spec, m, a));
        } else if (strcmp(tok, "relu") == 0) {
            CHECK(crmt_spec_add_relu(spec, m));
        } else if (strncmp(tok, "mlp:", 4) == 0) {
            const char *q = tok + 4;
            int first = 1;
            while (*q) {
                char *end;
                long v = strtol(q, &end, 10);
                if (end == q || v < 1)
                    die("bad mlp spec '%s'", tok);
                if (!first)
                    CHECK(crmt_spec_add_relu(spec, m));
                CHECK(crmt_spec_add_linear(spec, m, (int)v));
                first = 0;
                q = *end == ':' ? end + 1 : end;
                if (*end && *end != ':')
                    die("bad mlp spec '%s'", tok);
            }
#ifdef RUNEXP_HAVE_CONV
        } else if (sscanf(tok, "conv:%d:%d:%d:%d", &a, &b, &s, &p) == 4) {
            CHECK(crmt_spec_add_conv2d(spec, m, a, b, s, p));
        } else if (sscanf(tok, "maxpool:%d:%d", &a, &b) == 2) {
            CHECK(crmt_spec_add_maxpool(spec, m, a, b));
        } else if (sscanf(tok, "avgpool:%d:%d", &a, &b) == 2) {
            CHECK(crmt_spec_add_avgpool(spec, m, a, b));
        } else if (strcmp(tok, "flatten") == 0) {
            CHECK(crmt_spec_add_flatten(spec, m));
#endif
        } else {
            die("unknown encoder layer '%s'", tok);
        }
    }
}

typedef struct setup {
    options *o;
    int n_mod, n_classes;
    crmt_dataset *train, *val, *test;
    char mod_name[MAX_MOD][32];
} setup;

static crmt_model *make_model(const setup *su, crmt_head_kind head, uint64_t seed)
{
    crmt_spec *spec;
    crmt_model *model;
    CHECK(crmt_spec_create(&spec, su->n_classes));
    for (int m = 0; m < su->n_mod; m++) {
        const char *t = su->o->enc[m] ? su->o->enc[m] : su->o->enc_all;
        add_encoder(spec, su->mod_name[m], (int)crmt_dataset_dim(su->train, m), t);
    }
    CHECK(crmt_spec_set(spec, CRMT_SPEC_HEAD, head));
    if (head == CRMT_HEAD_CRMT)
        CHECK(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, su->o->a_init));
    CHECK(crmt_model_create(&model, spec, seed));
    crmt_spec_destroy(spec);
    return model;
}

/* ---------------------------------------------------------------- training */

typedef struct train_outcome {
    int diverged;
    int step2_epochs;
    double radius_before, radius_after; /* training-set mean radius around step 2 */
    double seconds;
    double final_loss;
} train_outcome;

static crmt_model *train_one(const setup *su, const method_def *md, const candidate *c,
                             uint64_t seed, train_outcome *out)
{
    const options *o = su->o;
    crmt_model *model = make_model(su, md->head, seed);
    crmt_optimizer *opt;
    crmt_train_options t;
    crmt_train_result r;
    CHECK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_LR, c->lr));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, o->momentum));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, o->wd));
    if (o->cosine) {
        CHECK(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE));
        CHECK(crmt_optimizer_set(opt, CRMT_OPT_TOTAL_EPOCHS, o->epochs));
        CHECK(crmt_optimizer_set(opt, CRMT_OPT_MIN_LR, 0.0));
    }
    CHECK(crmt_train_options_init(&t, sizeof t));
    t.method = md->method;
    t.epochs = o->epochs;
    t.batch_size = o->batch;
    t.seed = seed;
    t.rho = c->rho;
    t.at_epsilon = c->at_eps;
    t.integration_epochs = md->step2 ? o->int_epochs : 0;
    t.integration_lr = o->int_lr;
    t.integration_max_accuracy_drop = o->int_drop;
    t.validation = su->val;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    crmt_status st = crmt_train(model, opt, su->train, &t, &r);
    if (st != CRMT_OK && st != CRMT_ERR_DIVERGED) {
        fprintf(stderr, "run_experiment: crmt_train failed: %s: %s\n", crmt_status_string(st),
                crmt_last_error());
        exit(1);
    }
    out->diverged = st == CRMT_ERR_DIVERGED;
    out->step2_epochs = r.integration_epochs_run;
    out->radius_before = r.radius_before_step2;
    out->radius_after = r.radius_after_step2;
    out->seconds = r.seconds;
    out->final_loss = r.final_loss;
    crmt_optimizer_destroy(opt);
    return model;
}

static int make_grid(const options *o, const method_def *md, candidate *g)
{
    for (int i = 0; i < N_CAND; i++) {
        g[i].rho = 0.0;
        g[i].at_eps = o->at_eps;
    }
    switch (md->grid) {
    case GRID_LR:
        for (int i = 0; i < 4; i++)
            g[i].lr = o->lr4[i];
        break;
    case GRID_LR_RHO:
        for (int i = 0; i < 4; i++) {
            g[i].lr = o->lr2[i / 2];
            g[i].rho = o->rho2[i % 2];
        }
        break;
    case GRID_LR_ATEPS:
        for (int i = 0; i < 4; i++) {
            g[i].lr = o->lr2_at[i / 2];
            g[i].at_eps = o->ateps2[i % 2];
        }
        break;
    }
    if (md->rho_zero)
        for (int i = 0; i < 4; i++)
            g[i].rho = 0.0;
    return N_CAND;
}

static void describe(const method_def *md, const candidate *c, char *buf, size_t n)
{
    switch (md->grid) {
    case GRID_LR:
        snprintf(buf, n, "lr %g%s", c->lr, md->rho_zero ? ", rho 0" : "");
        break;
    case GRID_LR_RHO:
        if (md->method == CRMT_METHOD_CRMT_AT)
            snprintf(buf, n, "lr %g, rho %g (AT eps %g)", c->lr, c->rho, c->at_eps);
        else
            snprintf(buf, n, "lr %g, rho %g", c->lr, c->rho);
        break;
    case GRID_LR_ATEPS:
        snprintf(buf, n, "lr %g, AT eps %g", c->lr, c->at_eps);
        break;
    }
}

/* Mean cross-entropy of the fused logits on data (the tie-break of the selection). */
static double mean_ce(const setup *su, const crmt_model *model, const crmt_dataset *data)
{
    size_t n = crmt_dataset_num_samples(data), K = (size_t)su->n_classes, chunk = 512;
    const int32_t *y = crmt_dataset_labels(data);
    float *logits = malloc(chunk * K * sizeof *logits);
    double total = 0.0;
    if (!logits)
        exit(1);
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        size_t b = n - i0 < chunk ? n - i0 : chunk;
        const float *in[MAX_MOD];
        for (int m = 0; m < su->n_mod; m++)
            in[m] = crmt_dataset_data(data, m) + i0 * crmt_dataset_dim(data, m);
        CHECK(crmt_model_predict(model, in, b, NULL, logits));
        for (size_t i = 0; i < b; i++) {
            const float *l = logits + i * K;
            double mx = l[0], se = 0.0;
            for (size_t k = 1; k < K; k++)
                if (l[k] > mx)
                    mx = l[k];
            for (size_t k = 0; k < K; k++)
                se += exp((double)l[k] - mx);
            total += mx + log(se) - (double)l[y[i0 + i]];
        }
    }
    free(logits);
    return total / (double)n;
}

/* ---------------------------------------------------------------- evaluation */

typedef struct seed_result {
    crmt_evaluation_report rep;
    double missing_zero[MAX_MOD];
    double missing_mean[MAX_MOD];
    double integration_mean[MAX_MOD]; /* mean a_{m,k} (CRMT heads) */
    train_outcome tr;
    double eval_seconds;
} seed_result;

static void evaluate(const setup *su, const crmt_model *model, seed_result *sr)
{
    const options *o = su->o;
    crmt_evaluate_options eo;
    double t0 = now();
    CHECK(crmt_evaluate_options_init(&eo, sizeof eo));
    eo.batch_size = o->eval_batch;
    eo.fgm_epsilon = o->eps;
    eo.pgd_epsilon = o->eps;
    eo.pgd_steps = o->pgd_steps;
    eo.fill_mean_data = o->fill_zeros ? NULL : su->train;
    eo.radii = o->radii;
    eo.n_radii = (size_t)o->n_radii;
    memset(&sr->rep, 0, sizeof sr->rep);
    sr->rep.struct_size = sizeof sr->rep;
    CHECK(crmt_evaluate(model, su->test, &eo, &sr->rep));
    /* The other fill for the missing-modality figures: no attacks, no certificates. */
    {
        crmt_evaluate_options e2;
        crmt_evaluation_report r2;
        CHECK(crmt_evaluate_options_init(&e2, sizeof e2));
        e2.attacks = 0;
        e2.unimodal_attacks = 0;
        e2.certify = 0;
        e2.fill_mean_data = o->fill_zeros ? su->train : NULL;
        memset(&r2, 0, sizeof r2);
        r2.struct_size = sizeof r2;
        CHECK(crmt_evaluate(model, su->test, &e2, &r2));
        for (int m = 0; m < su->n_mod; m++) {
            sr->missing_zero[m] = o->fill_zeros ? sr->rep.missing_accuracy[m]
                                                : r2.missing_accuracy[m];
            sr->missing_mean[m] = o->fill_zeros ? r2.missing_accuracy[m]
                                                : sr->rep.missing_accuracy[m];
        }
    }
    for (int m = 0; m < su->n_mod; m++) {
        sr->integration_mean[m] = NAN;
        if (crmt_model_head(model) == CRMT_HEAD_CRMT) {
            float a[1024];
            double s = 0.0;
            if (su->n_classes <= 1024 &&
                crmt_model_get_integration(model, m, a, (size_t)su->n_classes) == CRMT_OK) {
                for (int k = 0; k < su->n_classes; k++)
                    s += a[k];
                sr->integration_mean[m] = s / su->n_classes;
            }
        }
    }
    sr->eval_seconds = now() - t0;
}

/* ---------------------------------------------------------------- statistics and output */

typedef struct stat {
    double mean, sd, min, max;
} stat;

static stat stats(const double *v, int n)
{
    stat s = {0.0, 0.0, v[0], v[0]};
    for (int i = 0; i < n; i++) {
        s.mean += v[i];
        if (v[i] < s.min)
            s.min = v[i];
        if (v[i] > s.max)
            s.max = v[i];
    }
    s.mean /= n;
    if (n > 1) {
        double q = 0.0;
        for (int i = 0; i < n; i++)
            q += (v[i] - s.mean) * (v[i] - s.mean);
        s.sd = sqrt(q / (n - 1));
    }
    return s;
}

/* Metric extractors over seed results. */
typedef double (*metric_fn)(const seed_result *, int arg);
static double m_clean(const seed_result *r, int a) { (void)a; return r->rep.clean_accuracy; }
static double m_fgm(const seed_result *r, int a) { (void)a; return r->rep.fgm_accuracy; }
static double m_pgd(const seed_result *r, int a) { (void)a; return r->rep.pgd_accuracy; }
static double m_fgm_m(const seed_result *r, int m) { return r->rep.fgm_modality_accuracy[m]; }
static double m_pgd_m(const seed_result *r, int m) { return r->rep.pgd_modality_accuracy[m]; }
static double m_miss_mean(const seed_result *r, int m) { return r->missing_mean[m]; }
static double m_miss_zero(const seed_result *r, int m) { return r->missing_zero[m]; }
static double m_cert(const seed_result *r, int i) { return r->rep.certified_accuracy[i]; }
static double m_radius(const seed_result *r, int a) { (void)a; return r->rep.mean_certified_radius; }
static double m_radius_m(const seed_result *r, int m)
{
    return r->rep.modality_mean_certified_radius[m];
}
static double m_miss_cert(const seed_result *r, int m) { return r->rep.missing_certified[m]; }
static double m_int(const seed_result *r, int m) { return r->integration_mean[m]; }

static stat collect(const seed_result *rs, int n, metric_fn f, int arg)
{
    double v[MAX_SEEDS] = {0.0}; /* n >= 1; zeroed so the compiler can see v[0] is set */
    for (int i = 0; i < n; i++)
        v[i] = f(&rs[i], arg);
    return stats(v, n);
}

/* "0.912 ± 0.004" */
static void cell(FILE *f, stat s, int digits)
{
    fprintf(f, " %.*f ± %.*f |", digits, s.mean, digits, s.sd);
}

static FILE *open_md(const options *o, const char *suffix, int *fresh)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-%s.md", o->md_prefix, suffix);
    FILE *f = fopen(path, "a+");
    if (!f) {
        fprintf(stderr, "run_experiment: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *fresh = ftell(f) == 0;
    return f;
}

static void header_robust(FILE *f, const setup *su)
{
    fprintf(f, "| method | clean | FGM | PGD |");
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " FGM %s |", su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " PGD %s |", su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " missing %s |", su->mod_name[m]);
    fprintf(f, "\n|---|---:|---:|---:|");
    for (int m = 0; m < 3 * su->n_mod; m++)
        fprintf(f, "---:|");
    fprintf(f, "\n");
}

static void row_robust(FILE *f, const setup *su, const char *label, const seed_result *rs, int n)
{
    fprintf(f, "| %s |", label);
    cell(f, collect(rs, n, m_clean, 0), 3);
    cell(f, collect(rs, n, m_fgm, 0), 3);
    cell(f, collect(rs, n, m_pgd, 0), 3);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_fgm_m, m), 3);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_pgd_m, m), 3);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, su->o->fill_zeros ? m_miss_zero : m_miss_mean, m), 3);
    fprintf(f, "\n");
}

static void header_cert(FILE *f, const setup *su)
{
    const options *o = su->o;
    fprintf(f, "| method |");
    for (int i = 0; i < o->n_radii; i++)
        fprintf(f, " cert. acc @%g |", o->radii[i]);
    fprintf(f, " mean radius |");
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " mean r_%s |", su->mod_name[m]);
    fprintf(f, " chosen (validation) | train s/seed | total s |\n|---|");
    for (int i = 0; i < o->n_radii + 1 + su->n_mod; i++)
        fprintf(f, "---:|");
    fprintf(f, "---|---:|---:|\n");
}

static void row_cert(FILE *f, const setup *su, const char *label, const seed_result *rs, int n,
                     const char *chosen, double train_s, double total_s)
{
    fprintf(f, "| %s |", label);
    for (int i = 0; i < su->o->n_radii; i++)
        cell(f, collect(rs, n, m_cert, i), 3);
    cell(f, collect(rs, n, m_radius, 0), 4);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_radius_m, m), 4);
    fprintf(f, " %s | %.1f | %.0f |\n", chosen, train_s, total_s);
}

static void header_pref(FILE *f, const setup *su)
{
    fprintf(f, "| method |");
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " missing %s (mean) | missing %s (zeros) |", su->mod_name[m],
                su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " PGD %s |", su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " mean r_%s |", su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " provably survives missing %s |", su->mod_name[m]);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, " mean a_%s |", su->mod_name[m]);
    fprintf(f, " preferred (missing hurts most) |\n|---|");
    for (int m = 0; m < 6 * su->n_mod; m++)
        fprintf(f, "---:|");
    fprintf(f, "---|\n");
}

static void row_pref(FILE *f, const setup *su, const char *label, const seed_result *rs, int n)
{
    int pref = 0;
    double worst = 2.0;
    fprintf(f, "| %s |", label);
    for (int m = 0; m < su->n_mod; m++) {
        stat s = collect(rs, n, m_miss_mean, m);
        cell(f, s, 3);
        cell(f, collect(rs, n, m_miss_zero, m), 3);
        if (s.mean < worst) {
            worst = s.mean;
            pref = m;
        }
    }
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_pgd_m, m), 3);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_radius_m, m), 4);
    for (int m = 0; m < su->n_mod; m++)
        cell(f, collect(rs, n, m_miss_cert, m), 3);
    for (int m = 0; m < su->n_mod; m++) {
        stat s = collect(rs, n, m_int, m);
        if (isnan(s.mean))
            fprintf(f, " — |");
        else
            cell(f, s, 3);
    }
    fprintf(f, " %s |\n", su->mod_name[pref]);
}

static void write_raw(const setup *su, const char *label, const char *chosen, uint64_t seed,
                      const seed_result *r)
{
    const options *o = su->o;
    FILE *f = fopen(o->raw_path, "a");
    if (!f) {
        fprintf(stderr, "run_experiment: cannot open %s: %s\n", o->raw_path, strerror(errno));
        exit(1);
    }
    fprintf(f, "%s\t%s\t%s\tseed=%llu\tclean=%.4f\tfgm=%.4f\tpgd=%.4f", o->name, label, chosen,
            (unsigned long long)seed, r->rep.clean_accuracy, r->rep.fgm_accuracy,
            r->rep.pgd_accuracy);
    for (int m = 0; m < su->n_mod; m++)
        fprintf(f, "\tfgm_m%d=%.4f\tpgd_m%d=%.4f\tmiss_mean_m%d=%.4f\tmiss_zero_m%d=%.4f"
                   "\tr_m%d=%.5f\tmiss_cert_m%d=%.4f\ta_m%d=%.4f",
                m, r->rep.fgm_modality_accuracy[m], m, r->rep.pgd_modality_accuracy[m], m,
                r->missing_mean[m], m, r->missing_zero[m], m,
                r->rep.modality_mean_certified_radius[m], m, r->rep.missing_certified[m], m,
                r->integration_mean[m]);
    for (size_t i = 0; i < r->rep.n_radii; i++)
        fprintf(f, "\tcert@%g=%.4f", r->rep.radii[i], r->rep.certified_accuracy[i]);
    for (int m = 0; m < su->n_mod; m++)
        for (size_t i = 0; i < r->rep.n_radii; i++)
            fprintf(f, "\tcert_m%d@%g=%.4f", m, r->rep.radii[i],
                    r->rep.modality_certified_accuracy[m][i]);
    fprintf(f, "\tradius=%.5f\tdiverged=%d\tstep2_epochs=%d\ttrain_radius_before=%.5f"
               "\ttrain_radius_after=%.5f\ttrain_s=%.1f\teval_s=%.1f\n",
            r->rep.mean_certified_radius, r->tr.diverged, r->tr.step2_epochs,
            r->tr.radius_before, r->tr.radius_after, r->tr.seconds, r->eval_seconds);
    fclose(f);
}

/* ---------------------------------------------------------------- main */

static void run_method(const setup *su, const method_def *md)
{
    const options *o = su->o;
    candidate grid[N_CAND];
    seed_result rs[MAX_SEEDS];
    char chosen[160], buf[160];
    double t_start = now(), best = -1.0, best_ce = INFINITY, train_total = 0.0;
    int best_i = 0;
    crmt_model *best_model = NULL;
    train_outcome best_tr;
    memset(&best_tr, 0, sizeof best_tr);
    memset(rs, 0, sizeof rs);

    make_grid(o, md, grid);
    printf("\n## %s %s: selection on the validation split (%d candidates, seed %llu)\n",
           o->name, md->label, N_CAND, (unsigned long long)o->seed0);
    for (int c = 0; c < N_CAND; c++) {
        train_outcome tr;
        double acc, ce;
        crmt_model *m = train_one(su, md, &grid[c], o->seed0, &tr);
        CHECK(crmt_model_accuracy(m, su->val, &acc));
        ce = mean_ce(su, m, su->val);
        describe(md, &grid[c], buf, sizeof buf);
        printf("  candidate %d: %-32s validation accuracy %.4f, CE %.4g  (final loss %.4g%s, "
               "step-2 epochs kept %d, %.1f s)\n",
               c, buf, acc, ce, tr.final_loss, tr.diverged ? ", DIVERGED" : "",
               tr.step2_epochs, tr.seconds);
        fflush(stdout);
        /* Highest validation accuracy; equal accuracies: lower validation cross-entropy. */
        if (acc > best || (acc == best && ce < best_ce)) {
            best = acc;
            best_ce = ce;
            best_i = c;
            crmt_model_destroy(best_model);
            best_model = m;
            best_tr = tr;
        } else {
            crmt_model_destroy(m);
        }
    }
    double t_select = now() - t_start;
    describe(md, &grid[best_i], chosen, sizeof chosen);
    printf("  chosen: %s (validation accuracy %.4f)\n", chosen, best);

    for (int s = 0; s < o->n_seeds; s++) {
        uint64_t seed = o->seed0 + (uint64_t)s;
        crmt_model *model;
        if (s == 0) {
            model = best_model;
            rs[s].tr = best_tr;
        } else {
            model = train_one(su, md, &grid[best_i], seed, &rs[s].tr);
        }
        train_total += rs[s].tr.seconds;
        evaluate(su, model, &rs[s]);
        printf("  seed %llu: clean %.4f FGM %.4f PGD %.4f", (unsigned long long)seed,
               rs[s].rep.clean_accuracy, rs[s].rep.fgm_accuracy, rs[s].rep.pgd_accuracy);
        for (int m = 0; m < su->n_mod; m++)
            printf(" | %s: PGD %.4f missing %.4f r %.4f", su->mod_name[m],
                   rs[s].rep.pgd_modality_accuracy[m], rs[s].rep.missing_accuracy[m],
                   rs[s].rep.modality_mean_certified_radius[m]);
        printf(" | radius %.4f%s (train %.1f s, eval %.1f s)\n",
               rs[s].rep.mean_certified_radius, rs[s].tr.diverged ? " DIVERGED" : "",
               rs[s].tr.seconds, rs[s].eval_seconds);
        fflush(stdout);
        if (o->raw_path)
            write_raw(su, md->label, chosen, seed, &rs[s]);
        crmt_model_destroy(model);
    }
    double total = now() - t_start;
    int n = o->n_seeds;
    printf("  times: selection %.1f s, training %.1f s per seed (mean), total %.1f s\n",
           t_select, train_total / n, total);

    printf("\n");
    header_robust(stdout, su);
    row_robust(stdout, su, md->label, rs, n);
    printf("\n");
    header_cert(stdout, su);
    row_cert(stdout, su, md->label, rs, n, chosen, train_total / n, total);
    printf("\n");
    header_pref(stdout, su);
    row_pref(stdout, su, md->label, rs, n);
    if (o->md_prefix) {
        int fresh;
        FILE *f = open_md(o, "robust", &fresh);
        if (fresh)
            header_robust(f, su);
        row_robust(f, su, md->label, rs, n);
        fclose(f);
        f = open_md(o, "cert", &fresh);
        if (fresh)
            header_cert(f, su);
        row_cert(f, su, md->label, rs, n, chosen, train_total / n, total);
        fclose(f);
        f = open_md(o, "pref", &fresh);
        if (fresh)
            header_pref(f, su);
        row_pref(f, su, md->label, rs, n);
        fclose(f);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    options o;
    setup su;
    double t0 = now();
    parse_args(argc, argv, &o);
    memset(&su, 0, sizeof su);
    su.o = &o;

    if (o.data_dir) {
        int n_tr, n_va, n_te;
        su.train = load_split(o.data_dir, "train", &n_tr);
        su.val = load_split(o.data_dir, "val", &n_va);
        su.test = load_split(o.data_dir, "test", &n_te);
        if (n_tr != n_va || n_tr != n_te)
            die("%s: the splits have different modality counts", o.data_dir);
        su.n_mod = n_tr;
    } else {
        crmt_digits digits;
        crmt_dataset *train;
        CHECK_DIGITS(crmt_digits_load(crmt_digits_default_path(), &digits));
        CHECK_DIGITS(crmt_digits_make_datasets(&digits, o.digits_view,
                                               CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                               CRMT_DIGITS_DEFAULT_SEED, &train, &su.test));
        crmt_digits_free(&digits);
        /* Validation: the last 20% of a seeded permutation of the training part (as
         * examples/main_job.c). */
        size_t n = crmt_dataset_num_samples(train), n_val = n / 5;
        size_t *idx = malloc(n * sizeof *idx);
        uint64_t s = 20240501u;
        if (!idx)
            return 1;
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        for (size_t i = n - 1; i > 0; i--) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t k = (size_t)((s >> 33) % (i + 1)), t = idx[i];
            idx[i] = idx[k];
            idx[k] = t;
        }
        CHECK(crmt_dataset_subset(&su.train, train, idx, n - n_val));
        CHECK(crmt_dataset_subset(&su.val, train, idx + (n - n_val), n_val));
        free(idx);
        crmt_dataset_destroy(train);
        su.n_mod = 2;
    }
    su.train = take_first(su.train, o.train_limit);
    {
        const crmt_dataset *sets[3] = {su.train, su.val, su.test};
        su.n_classes = n_classes_of(sets, 3);
    }
    for (int m = 0; m < su.n_mod; m++) {
        if (o.mod_names[m])
            snprintf(su.mod_name[m], sizeof su.mod_name[m], "%s", o.mod_names[m]);
        else
            snprintf(su.mod_name[m], sizeof su.mod_name[m], "m%d", m);
    }

    printf("# run_experiment %s\ncommand:", o.name);
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    printf("data: %s; %zu train / %zu validation / %zu test samples, %d classes; modalities:",
           o.data_dir ? o.data_dir : (o.digits_view ? "digits balanced" : "digits unbalanced"),
           crmt_dataset_num_samples(su.train), crmt_dataset_num_samples(su.val),
           crmt_dataset_num_samples(su.test), su.n_classes);
    for (int m = 0; m < su.n_mod; m++)
        printf(" %s (%zu floats, encoder %s)", su.mod_name[m], crmt_dataset_dim(su.train, m),
               o.enc[m] ? o.enc[m] : o.enc_all);
    printf("\n");
    {
        crmt_model *probe = make_model(&su, CRMT_HEAD_CRMT, 0);
        printf("model: %zu parameters (CRMT head)\n", crmt_model_num_parameters(probe));
        crmt_model_destroy(probe);
    }
    printf("training: SGD momentum %g, weight decay %g, %s lr, %d epochs, batch %d; "
           "step 2: %d epochs, lr %g, validation guard %g; seeds %llu..%llu\n",
           o.momentum, o.wd, o.cosine ? "cosine-decayed" : "constant", o.epochs, o.batch, o.int_epochs, o.int_lr, o.int_drop,
           (unsigned long long)o.seed0, (unsigned long long)(o.seed0 + (uint64_t)o.n_seeds - 1));
    printf("grids (4 candidates per method): lr {%g, %g, %g, %g} (JT, JT+Mixup, OJT, step 2 "
           "only); lr {%g, %g} x rho {%g, %g} (CRMT-JT/AT/Mix, step 1 only); lr {%g, %g} x AT "
           "eps {%g, %g} (JT+AT); CRMT-AT's AT eps %g; CRMT heads: a initialised to %g\n",
           o.lr4[0], o.lr4[1], o.lr4[2], o.lr4[3], o.lr2[0], o.lr2[1], o.rho2[0], o.rho2[1],
           o.lr2_at[0], o.lr2_at[1], o.ateps2[0], o.ateps2[1], o.at_eps, o.a_init);
    printf("evaluation: l2 FGM eps %g, PGD eps %g (%d steps of eps/3, no random start), "
           "uni-modal attacks with the same budget; missing modality = %s; sound certificates\n",
           o.eps, o.eps, o.pgd_steps, o.fill_zeros ? "zeros" : "training mean");

    for (int i = 0; i < o.n_method; i++)
        run_method(&su, o.method[i]);

    printf("\nwall time %.1f s\n", now() - t0);
    crmt_dataset_destroy(su.train);
    crmt_dataset_destroy(su.val);
    crmt_dataset_destroy(su.test);
    return 0;
}
