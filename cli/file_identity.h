/* Whether two paths name one file, by what the file system says rather than by their spelling
 * (./M.npy, M.npy, a hard link and a symbolic link to it are all the same file). */
#ifndef NORMOT_CLI_FILE_IDENTITY_H
#define NORMOT_CLI_FILE_IDENTITY_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when `a` and `b` name the same file: the same device and inode when both exist; when neither
 * exists yet, the same directory (by device and inode) and the same last name. Else 0. */
int cli_same_file(const char *a, const char *b);

/* 1 when writing `output` would replace `input` or, for a 10x directory input, one of the files
 * it is read from. Else 0. */
int cli_output_replaces_input(const char *output, const char *input);

#ifdef __cplusplus
}
#endif

#endif
