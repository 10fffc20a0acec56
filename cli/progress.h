/* Progress lines for long work (reading, normalizing, solving a batch), on stderr, and only when
 * stderr is a terminal: a pipe or a log file never receives them. --quiet turns them off. */
#ifndef NORMOT_CLI_PROGRESS_H
#define NORMOT_CLI_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress {
  const char *label; /* e.g. "solving", kept by pointer (a string literal) */
  int64_t total;     /* units of work; 0 or less: unknown, only the label and time are shown */
  int64_t done;
  double start_seconds;
  double last_print_seconds;
  int enabled; /* decided once at begin: terminal and not quiet */
  int printed; /* something is on the line and needs a newline at the end */
} cli_progress;

/* Turns every progress line off (--quiet) or back on. */
void cli_progress_set_quiet(int quiet);
/* 1 when progress lines would be shown now: stderr is a terminal and not quiet. */
int cli_progress_enabled(void);
/* Seconds on a monotonic clock, for timing the work as well as the progress lines. */
double cli_seconds(void);

void cli_progress_begin(cli_progress *progress, const char *label, int64_t total);
/* Records `done` units; redraws the line at most a few times per second. */
void cli_progress_update(cli_progress *progress, int64_t done);
/* Finishes the line with the elapsed time (or erases nothing when it was never shown). */
void cli_progress_end(cli_progress *progress);

#endif
