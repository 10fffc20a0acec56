#include "cli.h"

int normot_cmd_demo(int argc, char **argv) {
  (void)argc; (void)argv;
  return cli_error("demo: not implemented yet");
}
