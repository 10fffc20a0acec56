/* The normot command-line tool: one file per subcommand, shared helpers here. */
#ifndef NORMOT_CLI_H
#define NORMOT_CLI_H

#include "normot/normot.h"

/* Each subcommand takes argv after the subcommand's name (argv[0] is the subcommand) and
 * returns the process exit code: 0 on success, 1 on bad input or failure, 2 on bad usage. */
int normot_cmd_info(int argc, char **argv);
int normot_cmd_demo(int argc, char **argv);
int normot_cmd_normalize(int argc, char **argv);
int normot_cmd_emd(int argc, char **argv);

/* Prints "normot: <message>" as one line on stderr. Returns 1 (the exit code for failure). */
int cli_error(const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints "normot: <message> (see 'normot <command> --help')" as one line on stderr. Returns 2
 * (the exit code for bad usage). */
int cli_usage_error(const char *command, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Option parsing: if argv[*index] is `name` (value in the next argument) or `name=value`, sets
 * *value, advances *index past what it used and returns 1; returns 0 when it is another
 * argument, -1 when the value is missing. */
int cli_take_value(int argc, char **argv, int *index, const char *name, const char **value);

/* Parses "auto", "cpu" or "cuda". Returns 0 on success. */
int cli_parse_backend(const char *text, normot_backend *backend);
/* Parses a whole decimal integer / floating number. Returns 0 on success. */
int cli_parse_int64(const char *text, long long *value);
int cli_parse_double(const char *text, double *value);

/* Where the commands run: --backend and --threads. */
typedef struct cli_run_options {
  normot_backend backend;
  int threads;
} cli_run_options;

/* If argv[*index] is --backend or --threads (with its value), sets it in `run`, advances *index
 * and returns 1; returns 0 for another argument, or 2 (the usage exit code, after printing
 * why) when the value is bad. */
int cli_take_run_option(int argc, char **argv, int *index, const char *command,
                        cli_run_options *run);

/* Creates a context for --backend/--threads, printing the failure. Returns NULL on failure. */
normot_context *cli_context(normot_backend backend, int threads);

#endif
