/* The memory a reader may still ask for (declared in normot_io.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "normot_io.h"

static uint64_t kernel_available_bytes(void) {
  FILE *stream = fopen("/proc/meminfo", "r");
  if (stream != NULL) {
    char line[256];
    unsigned long long kib = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, stream) != NULL)
      found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    fclose(stream);
    if (found) return (uint64_t)kib * 1024u;
  }
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return UINT64_MAX;
  return (uint64_t)pages * (uint64_t)page_size;
}

/* The address space this process already maps (VmSize), which counts against ulimit -v. */
static uint64_t mapped_bytes(void) {
  FILE *stream = fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (stream == NULL) return 0;
  if (fscanf(stream, "%llu", &pages) != 1) pages = 0;
  fclose(stream);
  long page_size = sysconf(_SC_PAGESIZE);
  return page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

/* What a resource limit leaves once the current mappings are taken off (UINT64_MAX: none). */
static uint64_t limit_left(int resource) {
  struct rlimit limit;
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  uint64_t used = mapped_bytes();
  return (uint64_t)limit.rlim_cur > used ? (uint64_t)limit.rlim_cur - used : 0;
}

/* NORMOT_MAX_MEMORY, a byte count, caps what the readers may ask for below what the machine
 * has (UINT64_MAX when unset or not a positive integer): a smaller share than the machine's,
 * for a process that runs beside others or under a memory limit of its own (the fuzz targets). */
static uint64_t configured_cap(void) {
  const char *text = getenv("NORMOT_MAX_MEMORY");
  if (text == NULL || *text == '\0') return UINT64_MAX;
  char *end = NULL;
  unsigned long long value = strtoull(text, &end, 10);
  return *end == '\0' && value > 0 ? (uint64_t)value : UINT64_MAX;
}

uint64_t cli_memory_available(void) {
  uint64_t available = kernel_available_bytes();
  uint64_t cap = configured_cap();
  if (cap < available) available = cap;
  uint64_t address_space = limit_left(RLIMIT_AS);
  uint64_t data_segment = limit_left(RLIMIT_DATA);
  if (address_space < available) available = address_space;
  if (data_segment < available) available = data_segment;
  return available;
}

/* "2.9 TiB", "29.8 GiB", "12.0 MiB", "512 KiB": every amount stays readable. */
static void format_bytes(double bytes, char *text, size_t text_size) {
  if (bytes >= 1099511627776.0)
    snprintf(text, text_size, "%.1f TiB", bytes / 1099511627776.0);
  else if (bytes >= 1073741824.0)
    snprintf(text, text_size, "%.1f GiB", bytes / 1073741824.0);
  else if (bytes >= 1048576.0)
    snprintf(text, text_size, "%.1f MiB", bytes / 1048576.0);
  else
    snprintf(text, text_size, "%.0f KiB", bytes / 1024.0);
}

int cli_memory_shortfall(double bytes, char *text, size_t text_size) {
  double available = (double)cli_memory_available();
  if (bytes <= available) return 0;
  char needed_text[32], available_text[32];
  format_bytes(bytes, needed_text, sizeof needed_text);
  format_bytes(available, available_text, sizeof available_text);
  snprintf(text, text_size, "needs %s, more than the %s of memory available here", needed_text,
           available_text);
  return 1;
}
