/* The arithmetic of normalize_total that must agree bit for bit with the CPU backend
 * (src/cpu/normalize_*.c), written once for host and device.
 *
 * Every rounding step is an explicit conversion or one IEEE operation in the output type T, so
 * that nvcc has nothing to contract or reorder: the division below is a correctly rounded
 * division (this backend is never built with --use_fast_math or -prec-div=false). */
#ifndef NORMOT_SRC_CUDA_NORMALIZE_ARITH_CUH
#define NORMOT_SRC_CUDA_NORMALIZE_ARITH_CUH

#include <cmath>
#include <cstdint>

/* Host-and-device and always inlined: a name of its own, so that it never meets the plain
 * NORMOT_HD of the EMD code (src/auction/auction.h) with another body. */
#define NORMOT_HD_INLINE __host__ __device__ __forceinline__

namespace normot_cuda {

/* An input value as the output type: Scanpy casts integer counts to float32 (or float64 when
 * asked) before it sums anything, so the sum is over the converted values too. */
template <class Out, class In>
NORMOT_HD_INLINE Out as_output(In value) {
  return static_cast<Out>(value);
}

/* What one entry adds to its row's float64 accumulator. */
template <class Out, class In>
NORMOT_HD_INLINE double summand(In value) {
  return static_cast<double>(as_output<Out>(value));
}

/* NaN and +-Inf exist only in the float input types. */
template <class In>
NORMOT_HD_INLINE bool is_finite_value(In value) {
  return true;
}
template <>
NORMOT_HD_INLINE bool is_finite_value<float>(float value) {
  return isfinite(value);
}
template <>
NORMOT_HD_INLINE bool is_finite_value<double>(double value) {
  return isfinite(value);
}

/* The rule of exclude_highly_expressed: entry (c, g) marks gene g when it exceeds max_fraction
 * of the cell's total, both sides in float64, the total taken as rounded to the output type. */
template <class Out>
NORMOT_HD_INLINE bool is_highly_expressed(double value, Out total, double max_fraction) {
  return value > max_fraction * static_cast<double>(total);
}

/* numpy's median of an even count: the mean of the two middle values, in the array's type. */
template <class T>
NORMOT_HD_INLINE T median_of_two(T lower, T upper) {
  return static_cast<T>(static_cast<T>(lower + upper) / static_cast<T>(2));
}

/* size factor = total / target in the output type; 0 becomes 1 so that an all-zero cell is
 * divided by 1 and stays zero (never 0/0 = NaN). */
template <class T>
NORMOT_HD_INLINE T raw_size_factor(T total, T target) {
  return static_cast<T>(total / target);
}
template <class T>
NORMOT_HD_INLINE T usable_size_factor(T raw) {
  return raw == static_cast<T>(0) ? static_cast<T>(1) : raw;
}

/* log1p as sc.pp.log1p computes it: log1p in the array's type, then (with a base) a float64
 * division by log(base), rounded back to the type (a division, as numpy does). */
template <class T>
NORMOT_HD_INLINE T log1p_in_type(T value) {
  return log1p(value);
}
template <>
NORMOT_HD_INLINE float log1p_in_type<float>(float value) {
  return log1pf(value);
}

/* One output entry: the converted input divided by its cell's size factor, then the optional
 * fused log1p. log_of_base == 0 means the natural logarithm (log(base) is never 0:
 * base != 1 is checked before). */
template <class Out, class In>
NORMOT_HD_INLINE Out normalized_entry(In value, Out size_factor, int log1p, double log_of_base) {
  Out scaled = static_cast<Out>(as_output<Out>(value) / size_factor);
  if (!log1p) return scaled;
  Out logged = log1p_in_type<Out>(scaled);
  if (log_of_base != 0.0) logged = static_cast<Out>(static_cast<double>(logged) / log_of_base);
  return logged;
}

}  // namespace normot_cuda

#endif
