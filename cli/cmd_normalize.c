#include "cli.h"

int normot_cmd_normalize(int argc, char **argv) {
  (void)argc; (void)argv;
  return cli_error("normalize: not implemented yet");
}
