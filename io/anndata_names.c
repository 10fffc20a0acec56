/* anndata's rules for names and string columns (declared in normot_io.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normot_io.h"

/* ---- a fixed-size string set (open addressing), each entry with a counter -------------------- */

enum { SLOT_UNVISITED = -1 };

typedef struct name_slot {
  const char *name; /* NULL: empty slot */
  int64_t counter;  /* SLOT_UNVISITED, or how many suffixes were tried for this name */
} name_slot;

typedef struct name_set {
  name_slot *slots;
  size_t mask; /* capacity - 1, capacity a power of two */
} name_set;

/* Room for `entries` names at a load factor of at most one half. */
static int name_set_init(name_set *set, int64_t entries) {
  size_t capacity = 16;
  while (capacity < 2 * (size_t)entries) capacity *= 2;
  set->slots = calloc(capacity, sizeof *set->slots);
  set->mask = capacity - 1;
  return set->slots == NULL;
}

static size_t hash_name(const char *name) {
  uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
    hash = (hash ^ *p) * 1099511628211ULL;
  return (size_t)hash;
}

/* The slot holding `name`, or the empty slot where it would go. */
static name_slot *name_set_find(const name_set *set, const char *name) {
  size_t at = hash_name(name) & set->mask;
  while (set->slots[at].name != NULL && strcmp(set->slots[at].name, name) != 0)
    at = (at + 1) & set->mask;
  return &set->slots[at];
}

/* Adds `name` (not copied) unless present; returns its slot. */
static name_slot *name_set_add(name_set *set, const char *name) {
  name_slot *slot = name_set_find(set, name);
  if (slot->name == NULL) *slot = (name_slot){name, SLOT_UNVISITED};
  return slot;
}

int cli_names_have_duplicates(char *const *names, int64_t count) {
  name_set set;
  if (name_set_init(&set, count) != 0) return -1;
  int duplicated = 0;
  for (int64_t i = 0; i < count && !duplicated; i++) {
    name_slot *slot = name_set_find(&set, names[i]);
    if (slot->name != NULL)
      duplicated = 1;
    else
      *slot = (name_slot){names[i], SLOT_UNVISITED};
  }
  free(set.slots);
  return duplicated;
}

/* "<name>-<k>" in a new string. */
static char *suffixed_name(const char *name, int64_t k) {
  size_t length = strlen(name) + 24;
  char *text = malloc(length);
  if (text != NULL) snprintf(text, length, "%s-%lld", name, (long long)k);
  return text;
}

/* Finds the new name of a repeat of `slot->name`, registers it in `set`. NULL: out of memory. */
static char *next_free_name(name_set *set, name_slot *slot, int *collided) {
  for (;;) {
    char *candidate = suffixed_name(slot->name, ++slot->counter);
    if (candidate == NULL) return NULL;
    name_slot *taken = name_set_find(set, candidate);
    if (taken->name == NULL) {
      *taken = (name_slot){candidate, 0};
      return candidate;
    }
    *collided = 1;
    free(candidate);
  }
}

int cli_names_make_unique(char **names, int64_t count, int *collided) {
  *collided = 0;
  name_set set;
  /* Every name, plus at most one new name per repeat. */
  if (name_set_init(&set, 2 * count) != 0) return 1;
  char **renamed = calloc((size_t)(count > 0 ? count : 1), sizeof *renamed);
  int status = renamed == NULL;
  for (int64_t i = 0; status == 0 && i < count; i++) name_set_add(&set, names[i]);
  for (int64_t i = 0; status == 0 && i < count; i++) {
    name_slot *slot = name_set_add(&set, names[i]); /* present already: this finds it */
    if (slot->counter == SLOT_UNVISITED) {
      slot->counter = 0; /* the first occurrence keeps its name */
    } else if ((renamed[i] = next_free_name(&set, slot, collided)) == NULL) {
      status = 1;
    }
  }
  for (int64_t i = 0; renamed != NULL && i < count; i++) {
    if (renamed[i] == NULL) continue;
    if (status == 0) {
      free(names[i]);
      names[i] = renamed[i];
    } else {
      free(renamed[i]);
    }
  }
  if (status != 0) *collided = 0;
  free(renamed);
  free(set.slots);
  return status;
}

/* ---- natural order --------------------------------------------------------------------------- */

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* The length of the run of digits (or of other bytes) that starts at `text`. */
static size_t run_length(const char *text) {
  int digits = is_digit(text[0]);
  size_t length = 0;
  while (text[length] != '\0' && is_digit(text[length]) == digits) length++;
  return length;
}

/* Compares two runs of other bytes: bytewise, a prefix first. */
static int compare_text_runs(const char *a, size_t a_length, const char *b, size_t b_length) {
  size_t common = a_length < b_length ? a_length : b_length;
  int order = memcmp(a, b, common);
  if (order != 0) return order;
  return (a_length > b_length) - (a_length < b_length);
}

/* Compares two runs of digits by value (any length: leading zeros skipped, then the longer
 * number is larger, then bytewise). */
static int compare_number_runs(const char *a, size_t a_length, const char *b, size_t b_length) {
  while (a_length > 1 && a[0] == '0') a++, a_length--;
  while (b_length > 1 && b[0] == '0') b++, b_length--;
  if (a_length != b_length) return a_length < b_length ? -1 : 1;
  return memcmp(a, b, a_length);
}

int cli_natural_compare(const char *left, const char *right) {
  const char *a = left, *b = right;
  while (*a != '\0' && *b != '\0') {
    int a_digits = is_digit(*a), b_digits = is_digit(*b);
    /* Only at the start can the kinds differ: a string that starts with a number sorts as if it
     * started with an empty text run, before any string that starts with text. */
    if (a_digits != b_digits) return a_digits ? -1 : 1;
    size_t a_length = run_length(a), b_length = run_length(b);
    int order = a_digits ? compare_number_runs(a, a_length, b, b_length)
                         : compare_text_runs(a, a_length, b, b_length);
    if (order != 0) return order;
    a += a_length;
    b += b_length;
  }
  if (*a != '\0' || *b != '\0') return *a == '\0' ? -1 : 1;
  return strcmp(left, right);
}

/* ---- categoricals ---------------------------------------------------------------------------- */

typedef struct row_value {
  const char *text;
  int64_t row;
} row_value;

static int compare_row_values(const void *left, const void *right) {
  const row_value *a = left, *b = right;
  int order = cli_natural_compare(a->text, b->text);
  if (order != 0) return order;
  return (a->row > b->row) - (a->row < b->row);
}

int cli_categorical_build(char *const *values, int64_t count, cli_categorical *out) {
  memset(out, 0, sizeof *out);
  size_t rows = (size_t)(count > 0 ? count : 1);
  row_value *sorted = malloc(rows * sizeof *sorted);
  out->categories = malloc(rows * sizeof *out->categories);
  out->codes = malloc(rows * sizeof *out->codes);
  if (sorted == NULL || out->categories == NULL || out->codes == NULL) {
    free(sorted);
    cli_categorical_free(out);
    return 1;
  }
  for (int64_t i = 0; i < count; i++) sorted[i] = (row_value){values[i], i};
  qsort(sorted, (size_t)count, sizeof *sorted, compare_row_values);
  /* Equal strings are neighbours in this order: each run is one category. */
  for (int64_t i = 0; i < count; i++) {
    if (i == 0 || strcmp(sorted[i].text, sorted[i - 1].text) != 0)
      out->categories[out->n_categories++] = sorted[i].text;
    out->codes[sorted[i].row] = out->n_categories - 1;
  }
  free(sorted);
  return 0;
}

void cli_categorical_free(cli_categorical *categorical) {
  free((void *)categorical->categories);
  free(categorical->codes);
  memset(categorical, 0, sizeof *categorical);
}
