#include "cli.h"

int normot_cmd_emd(int argc, char **argv) {
  (void)argc; (void)argv;
  return cli_error("emd: not implemented yet");
}
