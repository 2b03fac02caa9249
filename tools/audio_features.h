/* tools: the AV-digits audio features (docs/data.md), computed by the project's own code.
 *
 * For a clip x[0..n) (floats, already trimmed and with any noise added):
 *  1. frames of 512 samples every 256 samples: 1 + (n - 512) / 256 frames (integer
 *     division; the tail shorter than a hop is dropped); a clip shorter than 512 samples is
 *     zero-padded to one frame;
 *  2. each frame times a periodic Hann window w[i] = 0.5 - 0.5 cos(2 pi i / 512), then the
 *     power spectrum |X_k|^2, k = 0..256, of its real DFT (no scaling);
 *  3. 28 bands: band b sums the bins edges[b] <= k < edges[b + 1], where edges are the 29
 *     unique integers of floor(geomspace(2, 257, 33)) (bins 0 and 1 are left out);
 *  4. log(band + 1e-6);
 *  5. each band's sequence over the frames resampled linearly to 20 points (the values at
 *     positions j (F - 1) / 19, j = 0..19, of F frames, as numpy.interp; one frame gives a
 *     constant band).
 * Output: 560 floats, band-major: out[b * 20 + j].
 */
#ifndef CRMT_TOOLS_AUDIO_FEATURES_H
#define CRMT_TOOLS_AUDIO_FEATURES_H

#include <stddef.h>

#define TOOL_AUDIO_FRAME 512
#define TOOL_AUDIO_HOP 256
#define TOOL_AUDIO_BINS 257
#define TOOL_AUDIO_BANDS 28
#define TOOL_AUDIO_STEPS 20
#define TOOL_AUDIO_DIM (TOOL_AUDIO_BANDS * TOOL_AUDIO_STEPS)
#define TOOL_AUDIO_LOG_EPS 1e-6
#define TOOL_AUDIO_TRIM_FRACTION 0.02

/* Complex radix-2 FFT of a fixed size n (a power of two, 1 <= n <= 2^24). */
typedef struct tool_fft_plan {
    size_t n;
    double *wr, *wi; /* n/2 twiddles exp(-2 pi i k / n) */
} tool_fft_plan;

/* 0 on success, -1 for a bad size or no memory (the plan is then empty; free accepts it). */
int tool_fft_plan_init(tool_fft_plan *p, size_t n);
void tool_fft_plan_free(tool_fft_plan *p);
/* In-place forward DFT: X_k = sum_j x_j exp(-2 pi i j k / n). */
void tool_fft(const tool_fft_plan *p, double *re, double *im);

/* Real FFT of size n (a power of two, 2 <= n <= 2^24) through one complex FFT of size n/2. */
typedef struct tool_rfft_plan {
    size_t n;
    tool_fft_plan half;
    double *wr, *wi; /* n/2 twiddles exp(-2 pi i k / n) */
    double *zr, *zi; /* scratch, n/2 each: a plan is used by one thread at a time */
} tool_rfft_plan;

int tool_rfft_plan_init(tool_rfft_plan *p, size_t n);
void tool_rfft_plan_free(tool_rfft_plan *p);
/* The bins k = 0..n/2 of the DFT of the real x[0..n) into re, im (n/2 + 1 each). */
void tool_rfft(tool_rfft_plan *p, const double *x, double *re, double *im);

/* The unique integers of floor(geomspace(lo, hi, count)) (lo < hi positive integers,
 * count >= 2; the end points are exact, as in numpy) into edges (cap entries). Returns how
 * many, or -1 for bad arguments or a too small cap. With (2, 257, 33): 29 edges. */
int tool_band_edges(int lo, int hi, int count, int *edges, int cap);

/* The range kept by trimming: the first and last samples whose magnitude is at least
 * fraction * peak (peak = max |x|). Returns 0 with [*first, *first + *count), or -1 when
 * the clip is empty or silent (peak 0) or NaN. */
int tool_trim(const float *x, size_t n, double fraction, size_t *first, size_t *count);

/* Linear resampling of in[0..n_in) to out[0..n_out) (n_in >= 1, n_out >= 1): out[j] is
 * in interpolated at j (n_in - 1) / (n_out - 1) (0 when n_out == 1). */
void tool_resample_linear(const double *in, size_t n_in, double *out, size_t n_out);

/* State for the 560 features (plan, window, edges, scratch). */
typedef struct tool_audio {
    tool_rfft_plan rfft;
    double window[TOOL_AUDIO_FRAME];
    int edges[TOOL_AUDIO_BANDS + 1];
    double *bands;    /* TOOL_AUDIO_BANDS * cap_frames, band-major */
    size_t cap_frames;
} tool_audio;

int tool_audio_init(tool_audio *a);
void tool_audio_free(tool_audio *a);
/* The frame count of a clip of n samples (at least 1). */
size_t tool_audio_num_frames(size_t n);
/* The features of x[0..n) (n >= 1) into out[TOOL_AUDIO_DIM]. Returns 0, or -1 when out of
 * memory. */
int tool_audio_features(tool_audio *a, const float *x, size_t n, float *out);

#endif
