/* Progress lines: one line per task, redrawn in place ('\r', then ESC [K to erase what a longer
 * earlier drawing left), finished with a newline. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Redraw no more often than this, so that progress never costs measurable time. */
static const double redraw_interval_seconds = 0.2;
static int quiet_flag = 0;

void cli_progress_set_quiet(int quiet) {
  quiet_flag = quiet != 0;
}

int cli_progress_enabled(void) {
  return !quiet_flag && isatty(fileno(stderr));
}

double cli_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static void draw(cli_progress *progress, double now) {
  double elapsed = now - progress->start_seconds;
  if (progress->total > 0) {
    double percent = 100.0 * (double)progress->done / (double)progress->total;
    fprintf(stderr, "\r\033[K%s: %5.1f%% (%lld/%lld) %.1f s", progress->label, percent,
            (long long)progress->done, (long long)progress->total, elapsed);
  } else {
    fprintf(stderr, "\r\033[K%s... %.1f s", progress->label, elapsed);
  }
  fflush(stderr);
  progress->printed = 1;
  progress->last_print_seconds = now;
}

void cli_progress_begin(cli_progress *progress, const char *label, int64_t total) {
  progress->label = label;
  progress->total = total;
  progress->done = 0;
  progress->start_seconds = cli_seconds();
  progress->last_print_seconds = progress->start_seconds;
  progress->enabled = cli_progress_enabled();
  progress->printed = 0;
  if (progress->enabled) draw(progress, progress->start_seconds);
}

void cli_progress_update(cli_progress *progress, int64_t done) {
  progress->done = done;
  if (!progress->enabled) return;
  double now = cli_seconds();
  if (now - progress->last_print_seconds >= redraw_interval_seconds) draw(progress, now);
}

void cli_progress_end(cli_progress *progress) {
  if (!progress->enabled) return;
  if (progress->total > 0) progress->done = progress->total;
  draw(progress, cli_seconds());
  fputs(" done\n", stderr);
  fflush(stderr);
  progress->printed = 0;
}
