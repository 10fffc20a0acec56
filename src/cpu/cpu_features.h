/* Which vector instruction set the CPU kernels may use, decided at run time. */
#ifndef NORMOT_SRC_CPU_CPU_FEATURES_H
#define NORMOT_SRC_CPU_CPU_FEATURES_H

/* 1 when the CPU runs AVX2 and the environment variable NORMOT_CPU_KERNELS is not "baseline"
 * (how the tests cover the portable kernels on a machine that has AVX2); 0 elsewhere. Decided
 * at the first call, for the whole process. */
int normot_cpu_use_avx2(void);

/* 1 when normot_cpu_use_avx2() and the CPU runs AVX-512F, unless NORMOT_CPU_KERNELS is "avx2";
 * 0 elsewhere. Decided at the first call, for the whole process. */
int normot_cpu_use_avx512(void);

#endif
