#include "train/loss.h"

#include <math.h>
#include <stddef.h>

double crmti_loss_ce(const float *logits, const int32_t *ya, const int32_t *yb, double lam,
                     int batch, int k, float *dlogits)
{
    double total = 0.0;
    for (int i = 0; i < batch; i++) {
        const float *z = logits + (size_t)i * k;
        double mx = z[0];
        for (int c = 1; c < k; c++)
            if (z[c] > mx)
                mx = z[c];
        double sum = 0.0;
        for (int c = 0; c < k; c++)
            sum += exp(z[c] - mx);
        double lse = mx + log(sum);
        total += lam * (lse - z[ya[i]]) + (1.0 - lam) * (lse - z[yb[i]]);
        if (dlogits) {
            float *d = dlogits + (size_t)i * k;
            for (int c = 0; c < k; c++) {
                double p = exp(z[c] - lse);
                p -= lam * (c == ya[i]) + (1.0 - lam) * (c == yb[i]);
                d[c] = (float)(p / batch);
            }
        }
    }
    return total / batch;
}

double crmti_loss_margin(const float *const *g, int n_mod, const int32_t *ya,
                         const int32_t *yb, double lam, int batch, int k, double rho,
                         float *const *dg)
{
    double total = 0.0;
    for (int i = 0; i < batch; i++) {
        const int a = ya[i], b = yb[i];
        /* Shift: the largest exponent over all (m, k) terms. */
        double mx = -INFINITY;
        for (int m = 0; m < n_mod; m++) {
            const float *gi = g[m] + (size_t)i * k;
            double c = lam * gi[a] + (1.0 - lam) * gi[b];
            for (int t = 0; t < k; t++)
                if (t != a && t != b && gi[t] - c > mx)
                    mx = gi[t] - c;
        }
        if (dg)
            for (int m = 0; m < n_mod; m++)
                for (int t = 0; t < k; t++)
                    dg[m][(size_t)i * k + t] = 0.0f;
        if (mx == -INFINITY)
            continue; /* no class outside {ya, yb} */
        double sum = 0.0;
        for (int m = 0; m < n_mod; m++) {
            const float *gi = g[m] + (size_t)i * k;
            double c = lam * gi[a] + (1.0 - lam) * gi[b];
            for (int t = 0; t < k; t++)
                if (t != a && t != b)
                    sum += exp(gi[t] - c - mx);
        }
        total += mx + log(sum);
        if (!dg)
            continue;
        const double scale = rho / batch;
        for (int m = 0; m < n_mod; m++) {
            const float *gi = g[m] + (size_t)i * k;
            float *di = dg[m] + (size_t)i * k;
            double c = lam * gi[a] + (1.0 - lam) * gi[b], mass = 0.0;
            for (int t = 0; t < k; t++)
                if (t != a && t != b) {
                    double p = exp(gi[t] - c - mx) / sum;
                    mass += p;
                    di[t] = (float)(scale * p);
                }
            di[a] += (float)(-scale * lam * mass);
            di[b] += (float)(-scale * (1.0 - lam) * mass);
        }
    }
    return rho * total / batch;
}
