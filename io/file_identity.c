/* Whether two paths name one file (declared in normot_io.h). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "normot_io.h"

/* Where a file that does not exist yet would be: its directory's identity and its last name. */
typedef struct future_file {
  struct stat directory;
  const char *name;
} future_file;

static int locate_future_file(const char *path, future_file *where) {
  const char *slash = strrchr(path, '/');
  const char *name = slash != NULL ? slash + 1 : path;
  /* "dir/name" -> "dir", "/name" -> "/", "name" -> "." */
  const char *directory_start = slash != NULL ? path : ".";
  size_t directory_length = slash == NULL || slash == path ? 1 : (size_t)(slash - path);
  char *directory = malloc(directory_length + 1);
  if (directory == NULL) return -1;
  memcpy(directory, directory_start, directory_length);
  directory[directory_length] = '\0';
  int status = stat(directory, &where->directory);
  free(directory);
  where->name = name;
  return status;
}

int cli_same_file(const char *a, const char *b) {
  struct stat info_a, info_b;
  int a_exists = stat(a, &info_a) == 0, b_exists = stat(b, &info_b) == 0;
  if (a_exists && b_exists) return info_a.st_dev == info_b.st_dev && info_a.st_ino == info_b.st_ino;
  if (a_exists || b_exists) return 0;
  future_file where_a, where_b;
  if (locate_future_file(a, &where_a) != 0 || locate_future_file(b, &where_b) != 0) return 0;
  return where_a.directory.st_dev == where_b.directory.st_dev &&
         where_a.directory.st_ino == where_b.directory.st_ino &&
         strcmp(where_a.name, where_b.name) == 0;
}

/* 1 when `output` is one of the 10x files present in `directory`. */
static int replaces_10x_file(const char *output, const char *directory) {
  DIR *listing = opendir(directory);
  if (listing == NULL) return 0;
  int replaces = 0;
  struct dirent *entry;
  while (!replaces && (entry = readdir(listing)) != NULL) {
    if (!cli_is_10x_file_name(entry->d_name)) continue;
    size_t size = strlen(directory) + strlen(entry->d_name) + 2;
    char *path = malloc(size);
    if (path == NULL) break;
    snprintf(path, size, "%s/%s", directory, entry->d_name);
    replaces = cli_same_file(output, path);
    free(path);
  }
  closedir(listing);
  return replaces;
}

int cli_output_replaces_input(const char *output, const char *input) {
  struct stat info;
  if (stat(input, &info) == 0 && S_ISDIR(info.st_mode)) return replaces_10x_file(output, input);
  return cli_same_file(output, input);
}
