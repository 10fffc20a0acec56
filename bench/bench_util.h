/* Small helpers shared by the benchmark programs (header only: every bench_*.c is a program). */
#ifndef NORMOT_BENCH_UTIL_H
#define NORMOT_BENCH_UTIL_H

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BENCH_MAX_THREAD_COUNTS = 16 };

static inline double bench_now(void) {
  return omp_get_wtime();
}

static inline int bench_compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of `count` values (sorts them in place). */
static inline double bench_median(double *values, int count) {
  if (count <= 0) return 0.0;
  qsort(values, (size_t)count, sizeof(double), bench_compare_doubles);
  return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* Parses a comma-separated list of thread counts; "all" means every core OpenMP sees.
 * Returns how many were parsed, or -1 on a bad entry. */
static inline int bench_parse_threads(const char *text, int *counts) {
  int n = 0;
  const char *at = text;
  while (*at != '\0' && n < BENCH_MAX_THREAD_COUNTS) {
    const char *end = strchr(at, ',');
    size_t length = end ? (size_t)(end - at) : strlen(at);
    if (length == 3 && strncmp(at, "all", 3) == 0) {
      counts[n++] = omp_get_num_procs();
    } else {
      char *stop;
      long value = strtol(at, &stop, 10);
      if (stop != at + length || value < 1 || value > 4096) return -1;
      counts[n++] = (int)value;
    }
    if (end == NULL) break;
    at = end + 1;
  }
  /* "1,all" on a one-core machine would run the same case twice. */
  int unique = 0;
  for (int i = 0; i < n; ++i) {
    int seen = 0;
    for (int j = 0; j < unique; ++j) seen |= counts[j] == counts[i];
    if (!seen) counts[unique++] = counts[i];
  }
  return unique;
}

/* Copies `bytes` with `threads` OpenMP threads, each copying one contiguous slice (the way a
 * streaming kernel with a static schedule touches memory). */
static inline void bench_parallel_copy(void *destination, const void *source, size_t bytes,
                                       int threads) {
#pragma omp parallel num_threads(threads)
  {
    size_t parts = (size_t)omp_get_num_threads(), part = (size_t)omp_get_thread_num();
    size_t begin = bytes / parts * part;
    size_t end = part + 1 == parts ? bytes : bytes / parts * (part + 1);
    memcpy((char *)destination + begin, (const char *)source + begin, end - begin);
  }
}

/* Prints text as a JSON string literal (quotes, backslashes and control characters escaped). */
static inline void bench_print_json_string(FILE *stream, const char *text) {
  fputc('"', stream);
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; ++p) {
    if (*p == '"' || *p == '\\')
      fprintf(stream, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(stream, "\\u%04x", *p);
    else
      fputc(*p, stream);
  }
  fputc('"', stream);
}

/* FNV-1a over 8-byte words (then the tail bytes): a fingerprint of an output, to show it is
 * the same for every thread count without keeping copies. */
static inline uint64_t bench_fingerprint(const void *data, size_t bytes) {
  const unsigned char *p = (const unsigned char *)data;
  uint64_t hash = 1469598103934665603ull, word;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    memcpy(&word, p + i, 8);
    hash = (hash ^ word) * 1099511628211ull;
  }
  for (; i < bytes; ++i) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

#endif
