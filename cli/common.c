/* Helpers shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_backend(const char *text, normot_backend *backend) {
  if (strcmp(text, "auto") == 0)
    *backend = NORMOT_BACKEND_AUTO;
  else if (strcmp(text, "cpu") == 0)
    *backend = NORMOT_BACKEND_CPU;
  else if (strcmp(text, "cuda") == 0)
    *backend = NORMOT_BACKEND_CUDA;
  else
    return -1;
  return 0;
}

int cli_parse_int64(const char *text, long long *value) {
  char *end = NULL;
  errno = 0;
  long long parsed = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return -1;
  *value = parsed;
  return 0;
}

int cli_parse_double(const char *text, double *value) {
  char *end = NULL;
  errno = 0;
  double parsed = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite(parsed)) return -1;
  *value = parsed;
  return 0;
}

normot_context *cli_context(normot_backend backend, int threads) {
  normot_context *context = NULL;
  normot_status status = normot_context_create(&context, backend, 0);
  if (status != NORMOT_SUCCESS) {
    cli_error("cannot use the %s backend: %s", normot_backend_name(backend),
              normot_status_string(status));
    return NULL;
  }
  if (normot_context_set_threads(context, threads) != NORMOT_SUCCESS) {
    cli_error("%s", normot_context_last_error(context));
    normot_context_destroy(context);
    return NULL;
  }
  return context;
}

int cli_take_value(int argc, char **argv, int *index, const char *name, const char **value) {
  const char *arg = argv[*index];
  size_t length = strlen(name);
  if (strncmp(arg, name, length) != 0) return 0;
  if (arg[length] == '=') {
    *value = arg + length + 1;
    return 1;
  }
  if (arg[length] != '\0') return 0;
  if (*index + 1 >= argc) return -1;
  *index += 1;
  *value = argv[*index];
  return 1;
}

int cli_take_run_option(int argc, char **argv, int *index, const char *command,
                        cli_run_options *run) {
  const char *value = NULL;
  int taken;
  if ((taken = cli_take_value(argc, argv, index, "--backend", &value)) != 0) {
    if (taken < 0 || cli_parse_backend(value, &run->backend) != 0)
      return cli_usage_error(command, "--backend must be auto, cpu or cuda");
    return 1;
  }
  if ((taken = cli_take_value(argc, argv, index, "--threads", &value)) != 0) {
    long long threads = 0;
    if (taken < 0 || cli_parse_int64(value, &threads) != 0 || threads < 0 ||
        threads > NORMOT_MAX_THREADS)
      return cli_usage_error(command, "--threads must be an integer in [0, %d]",
                             NORMOT_MAX_THREADS);
    run->threads = (int)threads;
    return 1;
  }
  return 0;
}
