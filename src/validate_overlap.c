/* Overlap of the arrays a call reads and writes (see validate_overlap.h). */
#include "validate_overlap.h"

static int is_empty(const normot_byte_range *range) {
  return range->start == NULL || range->bytes <= 0;
}

/* Addresses compared as integers: the arrays may belong to unrelated objects. */
static int ranges_overlap(const normot_byte_range *left, const normot_byte_range *right) {
  if (is_empty(left) || is_empty(right)) return 0;
  uintptr_t left_start = (uintptr_t)left->start, right_start = (uintptr_t)right->start;
  return left_start < right_start + (uintptr_t)right->bytes &&
         right_start < left_start + (uintptr_t)left->bytes;
}

static normot_status report(normot_context *context, const normot_byte_range *output,
                            const normot_byte_range *other) {
  return normot_fail(context, NORMOT_ERROR_INVALID_ARGUMENT,
                     "%s overlaps %s: an output may share memory with no input and no other "
                     "output",
                     output->name, other->name);
}

normot_status normot_check_overlaps(normot_context *context, const normot_byte_range *inputs,
                                    int n_inputs, const normot_byte_range *outputs, int n_outputs) {
  for (int o = 0; o < n_outputs; ++o) {
    for (int i = 0; i < n_inputs; ++i)
      if (ranges_overlap(&outputs[o], &inputs[i])) return report(context, &outputs[o], &inputs[i]);
    for (int other = o + 1; other < n_outputs; ++other)
      if (ranges_overlap(&outputs[o], &outputs[other]))
        return report(context, &outputs[o], &outputs[other]);
  }
  return NORMOT_SUCCESS;
}
