/* normot: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_usage(FILE *stream) {
  fputs(
      "usage: normot <command> [options]\n"
      "commands:\n"
      "  info        version, backends, devices, threads\n"
      "  demo        the main job on a built-in generated dataset (or --data PATH)\n"
      "  normalize   INPUT -o OUTPUT: scanpy-exact normalize_total of a count matrix\n"
      "  emd         batched exact earth mover's distances from .npy arrays\n"
      "Run 'normot <command> --help' for a command's options.\n",
      stream);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const char *command = argv[1];
  if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
      strcmp(command, "help") == 0) {
    print_usage(stdout);
    return 0;
  }
  if (strcmp(command, "--version") == 0) {
    printf("normot %s\n", normot_version_string());
    return 0;
  }
  if (strcmp(command, "info") == 0) return normot_cmd_info(argc - 1, argv + 1);
  if (strcmp(command, "demo") == 0) return normot_cmd_demo(argc - 1, argv + 1);
  if (strcmp(command, "normalize") == 0) return normot_cmd_normalize(argc - 1, argv + 1);
  if (strcmp(command, "emd") == 0) return normot_cmd_emd(argc - 1, argv + 1);
  fprintf(stderr, "normot: unknown command '%s'\n", command);
  print_usage(stderr);
  return 2;
}
