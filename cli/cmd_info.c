/* normot info: what this build and machine offer. */
#include <stdio.h>

#include "cli.h"

/* How CMake was asked to choose the CUDA backend (AUTO, ON or OFF) and whether it was built, as
 * cli/CMakeLists.txt passes them (the library and the tool are built together). */
#ifndef NORMOT_CUDA_CHOICE
#define NORMOT_CUDA_CHOICE "unknown"
#endif
#ifndef NORMOT_CUDA_BUILT
#define NORMOT_CUDA_BUILT 0
#endif

int normot_cmd_info(int argc, char **argv) {
  (void)argv;
  if (argc > 1) return cli_error("info takes no arguments");
  printf("normot %s\n", normot_version_string());
  printf("backends: cpu%s\n", normot_backend_available(NORMOT_BACKEND_CUDA) ? ", cuda" : "");
  printf("cuda backend: NORMOT_CUDA=%s at build time, %s\n", NORMOT_CUDA_CHOICE,
         NORMOT_CUDA_BUILT ? "built in" : "not built in");
  printf("cuda devices: %d\n", normot_cuda_device_count());
  normot_context *context = cli_context(NORMOT_BACKEND_AUTO, 0);
  if (context == NULL) return 1;
  printf("auto backend: %s\n", normot_backend_name(normot_context_backend(context)));
  printf("cpu threads: %d\n", normot_context_threads(context));
  normot_context_destroy(context);
  return 0;
}
