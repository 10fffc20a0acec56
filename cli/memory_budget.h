/* How much memory a reader may still ask for, so that a file declaring sizes no machine here can
 * hold is refused with one line before anything is allocated (rather than killed by the kernel
 * or left swapping). */
#ifndef NORMOT_CLI_MEMORY_BUDGET_H
#define NORMOT_CLI_MEMORY_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes this process can still take: the smaller of the memory the kernel reports available
 * (MemAvailable in /proc/meminfo, else the physical memory) and what the address-space and
 * data-segment limits (ulimit -v, ulimit -d) leave. */
uint64_t cli_memory_available(void);

/* 0 when `bytes` fit in cli_memory_available(); otherwise writes "needs 29.8 GiB, more than the
 * 7.9 GiB of memory available here" (MiB or KiB for smaller amounts) into `text` and returns 1. */
int cli_memory_shortfall(double bytes, char *text, size_t text_size);

#ifdef __cplusplus
}
#endif

#endif
