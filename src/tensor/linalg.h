/* Internal: small dense linear algebra in double (symmetric eigen-decomposition). */
#ifndef CRMTI_LINALG_H
#define CRMTI_LINALG_H

/* Eigen-decomposition of the symmetric n x n matrix a (row-major, destroyed) by cyclic
 * Jacobi rotations: evals[i] and column i of evecs (row-major n x n) form the pairs.
 * Accurate to a few ulps of the largest eigenvalue; meant for n up to a few hundred. */
void crmti_sym_eigen(double *a, int n, double *evals, double *evecs);

#endif
