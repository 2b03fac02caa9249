/* tools: FFT and the AV-digits audio features. See audio_features.h. */
#include "audio_features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586476925286766559

static int is_pow2(size_t n)
{
    return n >= 1 && (n & (n - 1)) == 0;
}

int tool_fft_plan_init(tool_fft_plan *p, size_t n)
{
    memset(p, 0, sizeof *p);
    if (!is_pow2(n) || n > ((size_t)1 << 24))
        return -1;
    size_t h = n / 2 ? n / 2 : 1;
    p->wr = malloc(h * sizeof *p->wr);
    p->wi = malloc(h * sizeof *p->wi);
    if (!p->wr || !p->wi) {
        tool_fft_plan_free(p);
        return -1;
    }
    for (size_t k = 0; k < h; k++) {
        double a = -TWO_PI * (double)k / (double)n;
        p->wr[k] = cos(a);
        p->wi[k] = sin(a);
    }
    p->n = n;
    return 0;
}

void tool_fft_plan_free(tool_fft_plan *p)
{
    if (!p)
        return;
    free(p->wr);
    free(p->wi);
    memset(p, 0, sizeof *p);
}

void tool_fft(const tool_fft_plan *p, double *re, double *im)
{
    size_t n = p->n;
    if (n < 2)
        return;
    /* Bit-reversal permutation. */
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    /* Butterflies: stage of length len uses the twiddles exp(-2 pi i k / len). */
    for (size_t len = 2; len <= n; len <<= 1) {
        size_t half = len >> 1, stride = n / len;
        for (size_t start = 0; start < n; start += len) {
            for (size_t k = 0; k < half; k++) {
                double wr = p->wr[k * stride], wi = p->wi[k * stride];
                size_t a = start + k, b = a + half;
                double tr = re[b] * wr - im[b] * wi;
                double ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
}

int tool_rfft_plan_init(tool_rfft_plan *p, size_t n)
{
    memset(p, 0, sizeof *p);
    if (!is_pow2(n) || n < 2 || n > ((size_t)1 << 24))
        return -1;
    size_t m = n / 2;
    if (tool_fft_plan_init(&p->half, m) != 0)
        return -1;
    p->wr = malloc(m * sizeof *p->wr);
    p->wi = malloc(m * sizeof *p->wi);
    p->zr = malloc(m * sizeof *p->zr);
    p->zi = malloc(m * sizeof *p->zi);
    if (!p->wr || !p->wi || !p->zr || !p->zi) {
        tool_rfft_plan_free(p);
        return -1;
    }
    for (size_t k = 0; k < m; k++) {
        double a = -TWO_PI * (double)k / (double)n;
        p->wr[k] = cos(a);
        p->wi[k] = sin(a);
    }
    p->n = n;
    return 0;
}

void tool_rfft_plan_free(tool_rfft_plan *p)
{
    if (!p)
        return;
    tool_fft_plan_free(&p->half);
    free(p->wr);
    free(p->wi);
    free(p->zr);
    free(p->zi);
    memset(p, 0, sizeof *p);
}

void tool_rfft(tool_rfft_plan *p, const double *x, double *re, double *im)
{
    size_t m = p->n / 2;
    double *zr = p->zr, *zi = p->zi;
    /* z_j = x_{2j} + i x_{2j+1}; Z = FFT_m(z). */
    for (size_t j = 0; j < m; j++) {
        zr[j] = x[2 * j];
        zi[j] = x[2 * j + 1];
    }
    tool_fft(&p->half, zr, zi);
    /* X_k = E_k + W^k O_k with E_k = (Z_k + conj Z_{m-k}) / 2 (DFT of the even samples) and
     * O_k = (Z_k - conj Z_{m-k}) / 2i (DFT of the odd samples), W = exp(-2 pi i / n). */
    re[0] = zr[0] + zi[0];
    im[0] = 0.0;
    re[m] = zr[0] - zi[0];
    im[m] = 0.0;
    for (size_t k = 1; k < m; k++) {
        double ar = zr[k], ai = zi[k], br = zr[m - k], bi = -zi[m - k]; /* b = conj Z_{m-k} */
        double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
        /* (a - b) / 2i = (ai - bi) / 2 - i (ar - br) / 2 */
        double or_ = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
        double wr = p->wr[k], wi = p->wi[k];
        re[k] = er + wr * or_ - wi * oi;
        im[k] = ei + wr * oi + wi * or_;
    }
}

int tool_band_edges(int lo, int hi, int count, int *edges, int cap)
{
    if (lo < 1 || hi <= lo || count < 2 || !edges || cap < 1)
        return -1;
    double llo = log((double)lo), lhi = log((double)hi);
    int k = 0;
    for (int i = 0; i < count; i++) {
        int e;
        if (i == 0)
            e = lo;
        else if (i == count - 1)
            e = hi;
        else
            e = (int)floor(exp(llo + (lhi - llo) * (double)i / (double)(count - 1)));
        if (k > 0 && edges[k - 1] == e)
            continue;
        if (k == cap)
            return -1;
        edges[k++] = e;
    }
    return k;
}

int tool_trim(const float *x, size_t n, double fraction, size_t *first, size_t *count)
{
    double peak = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs((double)x[i]);
        if (!(v <= peak)) {
            if (isnan(v))
                return -1;
            peak = v;
        }
    }
    if (peak <= 0.0)
        return -1;
    double thr = fraction * peak;
    size_t a = 0, b = n - 1;
    while (fabs((double)x[a]) < thr)
        a++;
    while (fabs((double)x[b]) < thr)
        b--;
    *first = a;
    *count = b - a + 1;
    return 0;
}

void tool_resample_linear(const double *in, size_t n_in, double *out, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        if (n_in == 1 || n_out == 1) {
            out[j] = in[0];
            continue;
        }
        double pos = (double)j * (double)(n_in - 1) / (double)(n_out - 1);
        size_t i0 = (size_t)pos;
        if (i0 >= n_in - 1) {
            out[j] = in[n_in - 1];
            continue;
        }
        double f = pos - (double)i0;
        out[j] = in[i0] * (1.0 - f) + in[i0 + 1] * f;
    }
}

int tool_audio_init(tool_audio *a)
{
    memset(a, 0, sizeof *a);
    if (tool_rfft_plan_init(&a->rfft, TOOL_AUDIO_FRAME) != 0)
        return -1;
    for (int i = 0; i < TOOL_AUDIO_FRAME; i++)
        a->window[i] = 0.5 - 0.5 * cos(TWO_PI * (double)i / TOOL_AUDIO_FRAME);
    if (tool_band_edges(2, TOOL_AUDIO_BINS, 33, a->edges, TOOL_AUDIO_BANDS + 1) !=
        TOOL_AUDIO_BANDS + 1) {
        tool_audio_free(a);
        return -1;
    }
    return 0;
}

void tool_audio_free(tool_audio *a)
{
    if (!a)
        return;
    tool_rfft_plan_free(&a->rfft);
    free(a->bands);
    memset(a, 0, sizeof *a);
}

size_t tool_audio_num_frames(size_t n)
{
    return n <= TOOL_AUDIO_FRAME ? 1 : 1 + (n - TOOL_AUDIO_FRAME) / TOOL_AUDIO_HOP;
}

int tool_audio_features(tool_audio *a, const float *x, size_t n, float *out)
{
    size_t nf = tool_audio_num_frames(n);
    if (nf > a->cap_frames) {
        double *nb = realloc(a->bands, nf * TOOL_AUDIO_BANDS * sizeof *nb);
        if (!nb)
            return -1;
        a->bands = nb;
        a->cap_frames = nf;
    }
    double frame[TOOL_AUDIO_FRAME], re[TOOL_AUDIO_BINS], im[TOOL_AUDIO_BINS];
    for (size_t f = 0; f < nf; f++) {
        size_t off = f * TOOL_AUDIO_HOP;
        for (size_t i = 0; i < TOOL_AUDIO_FRAME; i++)
            frame[i] = off + i < n ? a->window[i] * (double)x[off + i] : 0.0;
        tool_rfft(&a->rfft, frame, re, im);
        for (int b = 0; b < TOOL_AUDIO_BANDS; b++) {
            double s = 0.0;
            for (int k = a->edges[b]; k < a->edges[b + 1]; k++)
                s += re[k] * re[k] + im[k] * im[k];
            a->bands[(size_t)b * nf + f] = log(s + TOOL_AUDIO_LOG_EPS);
        }
    }
    double r[TOOL_AUDIO_STEPS];
    for (int b = 0; b < TOOL_AUDIO_BANDS; b++) {
        tool_resample_linear(a->bands + (size_t)b * nf, nf, r, TOOL_AUDIO_STEPS);
        for (int j = 0; j < TOOL_AUDIO_STEPS; j++)
            out[b * TOOL_AUDIO_STEPS + j] = (float)r[j];
    }
    return 0;
}
