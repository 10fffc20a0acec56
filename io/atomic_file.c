/* Output files that appear whole or not at all (declared in normot_io.h).
 *
 * A temporary file is created beside the target (same directory, so that rename() is atomic)
 * with O_EXCL, so that it never truncates someone else's file. Every live temporary name is
 * also kept in a small registry, so that SIGINT/SIGTERM/SIGHUP remove it before the process
 * dies: an interrupted run leaves nothing behind either. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normot_io.h"

/* Enough for every output of one command (emd writes at most five; normalize two). */
enum { LIVE_TEMP_CAPACITY = 32 };

/* Copies, not pointers, so that a caller freeing its name can never leave a dangling entry. */
enum { LIVE_TEMP_PATH_MAX = 4096 };
static char live_temps[LIVE_TEMP_CAPACITY][LIVE_TEMP_PATH_MAX];
static volatile sig_atomic_t live_temp_used[LIVE_TEMP_CAPACITY];
static volatile sig_atomic_t handlers_installed = 0;

static void remove_live_temps_and_die(int signal_number) {
  for (int i = 0; i < LIVE_TEMP_CAPACITY; ++i) {
    if (live_temp_used[i]) unlink(live_temps[i]); /* async-signal-safe */
  }
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

static void install_handlers_once(void) {
  if (handlers_installed) return;
  handlers_installed = 1;
  const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; ++i) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = remove_live_temps_and_die;
    sigemptyset(&action.sa_mask);
    /* Keep an ignored signal ignored (e.g. under nohup). */
    struct sigaction previous;
    if (sigaction(signals[i], NULL, &previous) == 0 && previous.sa_handler == SIG_IGN) continue;
    sigaction(signals[i], &action, NULL);
  }
}

static void register_temp(const char *path) {
  install_handlers_once();
  if (strlen(path) >= LIVE_TEMP_PATH_MAX) return;
  for (int i = 0; i < LIVE_TEMP_CAPACITY; ++i) {
    if (!live_temp_used[i]) {
      strcpy(live_temps[i], path);
      live_temp_used[i] = 1;
      return;
    }
  }
  /* Registry full: the file is still removed on every ordinary failure path. */
}

static void unregister_temp(const char *path) {
  for (int i = 0; i < LIVE_TEMP_CAPACITY; ++i) {
    if (live_temp_used[i] && strcmp(live_temps[i], path) == 0) live_temp_used[i] = 0;
  }
}

char *cli_atomic_temp_name(const char *final_path) {
  if (final_path == NULL || final_path[0] == '\0') {
    errno = EINVAL;
    return NULL;
  }
  static unsigned sequence = 0; /* two temporaries for one target in one process differ */
  size_t size = strlen(final_path) + 64;
  char *name = malloc(size);
  if (name == NULL) return NULL;
  snprintf(name, size, "%s.tmp.%ld.%u", final_path, (long)getpid(), sequence++);
  register_temp(name);
  return name;
}

int cli_atomic_open(cli_atomic_file *file, const char *final_path) {
  file->stream = NULL;
  file->final_path = NULL;
  file->temp_path = NULL;
  if (final_path == NULL || final_path[0] == '\0') {
    errno = EINVAL;
    return -1;
  }
  file->final_path = strdup(final_path);
  file->temp_path = cli_atomic_temp_name(final_path);
  if (file->final_path == NULL || file->temp_path == NULL) {
    int saved = errno;
    cli_atomic_abort(file);
    errno = saved != 0 ? saved : ENOMEM;
    return -1;
  }
  int fd = open(file->temp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0) {
    int saved = errno;
    unregister_temp(file->temp_path); /* not ours: never unlink it */
    free(file->temp_path);
    file->temp_path = NULL;
    cli_atomic_abort(file);
    errno = saved;
    return -1;
  }
  file->stream = fdopen(fd, "wb");
  if (file->stream == NULL) {
    int saved = errno;
    close(fd);
    cli_atomic_abort(file);
    errno = saved;
    return -1;
  }
  return 0;
}

int cli_atomic_commit_path(const char *temp_path, const char *final_path) {
  if (rename(temp_path, final_path) != 0) {
    int saved = errno;
    unlink(temp_path);
    unregister_temp(temp_path);
    errno = saved;
    return -1;
  }
  unregister_temp(temp_path);
  return 0;
}

int cli_atomic_commit(cli_atomic_file *file) {
  int failed = 0;
  int saved = 0;
  if (file->stream != NULL) {
    /* fflush and fclose report a full disk; a failed write must not be renamed into place. */
    if (fflush(file->stream) != 0 || ferror(file->stream)) {
      failed = 1;
      saved = errno != 0 ? errno : EIO;
    }
    if (fclose(file->stream) != 0 && !failed) {
      failed = 1;
      saved = errno != 0 ? errno : EIO;
    }
    file->stream = NULL;
  }
  if (!failed && file->temp_path != NULL && file->final_path != NULL) {
    if (cli_atomic_commit_path(file->temp_path, file->final_path) != 0) {
      saved = errno;
      failed = 1;
    }
  } else if (!failed) {
    failed = 1;
    saved = EINVAL;
  }
  if (failed) {
    cli_atomic_abort(file);
    errno = saved;
    return -1;
  }
  free(file->temp_path);
  free(file->final_path);
  file->temp_path = NULL;
  file->final_path = NULL;
  return 0;
}

void cli_atomic_abort(cli_atomic_file *file) {
  if (file == NULL) return;
  if (file->stream != NULL) {
    fclose(file->stream);
    file->stream = NULL;
  }
  if (file->temp_path != NULL) {
    unlink(file->temp_path);
    unregister_temp(file->temp_path);
    free(file->temp_path);
    file->temp_path = NULL;
  }
  free(file->final_path);
  file->final_path = NULL;
}

void cli_atomic_discard_path(char *temp_path) {
  if (temp_path == NULL) return;
  unlink(temp_path);
  unregister_temp(temp_path);
  free(temp_path);
}
