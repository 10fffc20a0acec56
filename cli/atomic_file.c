/* Placeholder until the I/O helper lands; see atomic_file.h. */
#include "atomic_file.h"
