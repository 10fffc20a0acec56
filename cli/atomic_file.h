/* Output files that appear whole or not at all: write to "<path>.tmp.<pid>.<n>", then rename. */
#ifndef NORMOT_CLI_ATOMIC_FILE_H
#define NORMOT_CLI_ATOMIC_FILE_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cli_atomic_file {
  FILE *stream;
  char *final_path;
  char *temp_path;
} cli_atomic_file;

/* Opens the temporary file for writing. Returns 0, or non-zero with errno set. */
int cli_atomic_open(cli_atomic_file *file, const char *final_path);
/* Flushes, closes and renames onto the final path. Returns 0 on success; on failure the
 * temporary file is removed. */
int cli_atomic_commit(cli_atomic_file *file);
/* Closes and removes the temporary file (after a failure). Safe to call twice. */
void cli_atomic_abort(cli_atomic_file *file);
/* For writers that need a path rather than a stream (HDF5), and for commands that stage several
 * outputs and rename them all at the end: the name to write (malloc'ed, "<final>.tmp.<pid>.<n>";
 * the caller frees it), renamed by cli_atomic_commit_path. Until it is committed or discarded
 * the name is registered, so that SIGINT/SIGTERM/SIGHUP remove the file. */
char *cli_atomic_temp_name(const char *final_path);
/* Renames temp_path onto final_path. Returns 0; on failure removes temp_path, returns -1 with
 * errno set. Does not free temp_path. */
int cli_atomic_commit_path(const char *temp_path, const char *final_path);
/* Removes the staged file temp_path (if it exists), forgets it and frees the name. NULL: no-op. */
void cli_atomic_discard_path(char *temp_path);

#ifdef __cplusplus
}
#endif

#endif
