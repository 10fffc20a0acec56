// Helpers for the normalize_total tests: owning host matrices in any layout / index type /
// value type built from one CSR description, and byte-level comparison of results.
#ifndef NORMOT_TEST_NORMALIZE_HELPERS_H
#define NORMOT_TEST_NORMALIZE_HELPERS_H

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "normot/normot.h"

namespace normalize_test {

inline bool IsFloat(normot_value_type type) {
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}

inline const char *TypeName(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return "float32";
    case NORMOT_FLOAT64: return "float64";
    case NORMOT_INT32: return "int32";
    case NORMOT_INT64: return "int64";
    case NORMOT_UINT16: return "uint16";
    case NORMOT_UINT32: return "uint32";
  }
  return "?";
}

inline const char *LayoutName(normot_layout layout) {
  return layout == NORMOT_LAYOUT_CSR ? "csr" : layout == NORMOT_LAYOUT_CSC ? "csc" : "dense";
}

// A cells x genes matrix as CSR with 64-bit indices and values as raw bytes of `type`: the one
// description every layout is built from. Rows may hold their entries in any order.
struct Csr {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> indptr{0}, indices;
  normot_value_type type = NORMOT_FLOAT32;
  std::vector<unsigned char> values;  // nnz * normot_value_size(type)
  int64_t nnz() const { return (int64_t)indices.size(); }
};

// Writes `value` into element i of a byte buffer of `type` (exact for the values tests use).
inline void PutValue(std::vector<unsigned char> &bytes, normot_value_type type, size_t i,
                     double value) {
  unsigned char *p = bytes.data() + i * normot_value_size(type);
  switch (type) {
    case NORMOT_FLOAT32: {
      float v = (float)value;
      std::memcpy(p, &v, 4);
      break;
    }
    case NORMOT_FLOAT64: std::memcpy(p, &value, 8); break;
    case NORMOT_INT32: {
      int32_t v = (int32_t)value;
      std::memcpy(p, &v, 4);
      break;
    }
    case NORMOT_INT64: {
      int64_t v = (int64_t)value;
      std::memcpy(p, &v, 8);
      break;
    }
    case NORMOT_UINT16: {
      uint16_t v = (uint16_t)value;
      std::memcpy(p, &v, 2);
      break;
    }
    case NORMOT_UINT32: {
      uint32_t v = (uint32_t)value;
      std::memcpy(p, &v, 4);
      break;
    }
  }
}

inline double GetValue(const unsigned char *bytes, normot_value_type type, size_t i) {
  const unsigned char *p = bytes + i * normot_value_size(type);
  switch (type) {
    case NORMOT_FLOAT32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case NORMOT_FLOAT64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case NORMOT_INT32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case NORMOT_INT64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return (double)v;
    }
    case NORMOT_UINT16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case NORMOT_UINT32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
  }
  return 0;
}

// The same matrix with its values converted to another type (exact for the values used).
inline Csr WithType(const Csr &csr, normot_value_type type) {
  Csr out = csr;
  out.type = type;
  out.values.assign(csr.indices.size() * normot_value_size(type), 0);
  for (size_t k = 0; k < csr.indices.size(); ++k)
    PutValue(out.values, type, k, GetValue(csr.values.data(), csr.type, k));
  return out;
}

// An owning matrix in one layout. entry_position[k] is where CSR entry k lives in `values`
// (element index), so results can be compared with a CSR-ordered expectation.
struct HostMatrix {
  normot_layout layout = NORMOT_LAYOUT_CSR;
  normot_index_type index_type = NORMOT_INDEX_INT64;
  normot_value_type type = NORMOT_FLOAT32;
  int64_t rows = 0, cols = 0, nnz = 0, ld = 0;
  std::vector<int32_t> indptr32, indices32;
  std::vector<int64_t> indptr64, indices64;
  std::vector<unsigned char> values;
  std::vector<int64_t> entry_position;

  int64_t n_elements() const { return layout == NORMOT_LAYOUT_DENSE ? rows * ld : nnz; }
  size_t value_bytes() const { return (size_t)n_elements() * normot_value_size(type); }

  normot_matrix View() {
    normot_matrix m{};
    m.layout = layout;
    m.n_rows = rows;
    m.n_cols = cols;
    m.nnz = layout == NORMOT_LAYOUT_DENSE ? 0 : nnz;
    bool i32 = index_type == NORMOT_INDEX_INT32;
    if (layout != NORMOT_LAYOUT_DENSE) {
      m.indptr = i32 ? (const void *)indptr32.data() : (const void *)indptr64.data();
      m.indices = i32 ? (const void *)indices32.data() : (const void *)indices64.data();
    }
    m.index_type = index_type;
    m.values = values.empty() ? nullptr : values.data();
    m.value_type = type;
    m.ld = layout == NORMOT_LAYOUT_DENSE ? ld : 0;
    m.memory = NORMOT_MEMORY_HOST;
    return m;
  }
};

// Builds `layout` from the CSR description. Dense gets ld = cols + ld_padding; its padding
// holds `padding_value` and its implicit zeros are 0.
inline HostMatrix Build(const Csr &csr, normot_layout layout, normot_index_type index_type,
                        int64_t ld_padding = 0, double padding_value = 0.0) {
  HostMatrix m;
  m.layout = layout;
  m.index_type = index_type;
  m.type = csr.type;
  m.rows = csr.rows;
  m.cols = csr.cols;
  m.nnz = csr.nnz();
  size_t size = normot_value_size(csr.type);
  m.entry_position.assign((size_t)m.nnz, 0);
  std::vector<int64_t> indptr, indices;
  if (layout == NORMOT_LAYOUT_CSR) {
    indptr = csr.indptr;
    indices = csr.indices;
    m.values = csr.values;
    for (int64_t k = 0; k < m.nnz; ++k) m.entry_position[(size_t)k] = k;
  } else if (layout == NORMOT_LAYOUT_CSC) {
    // Column by column; within a column, in increasing row order (CSR row order).
    indptr.assign((size_t)csr.cols + 1, 0);
    for (int64_t c : csr.indices) ++indptr[(size_t)c + 1];
    for (int64_t c = 0; c < csr.cols; ++c) indptr[(size_t)c + 1] += indptr[(size_t)c];
    std::vector<int64_t> next(indptr.begin(), indptr.end() - 1);
    indices.assign((size_t)m.nnz, 0);
    m.values.assign((size_t)m.nnz * size, 0);
    for (int64_t r = 0; r < csr.rows; ++r)
      for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k) {
        int64_t p = next[(size_t)csr.indices[(size_t)k]]++;
        indices[(size_t)p] = r;
        std::memcpy(&m.values[(size_t)p * size], &csr.values[(size_t)k * size], size);
        m.entry_position[(size_t)k] = p;
      }
  } else {
    m.ld = csr.cols + ld_padding;
    m.values.assign((size_t)(m.rows * m.ld) * size, 0);
    for (int64_t r = 0; r < m.rows; ++r)
      for (int64_t c = csr.cols; c < m.ld; ++c)
        PutValue(m.values, csr.type, (size_t)(r * m.ld + c), padding_value);
    for (int64_t r = 0; r < csr.rows; ++r)
      for (int64_t k = csr.indptr[(size_t)r]; k < csr.indptr[(size_t)r + 1]; ++k) {
        int64_t p = r * m.ld + csr.indices[(size_t)k];
        std::memcpy(&m.values[(size_t)p * size], &csr.values[(size_t)k * size], size);
        m.entry_position[(size_t)k] = p;
      }
  }
  if (layout != NORMOT_LAYOUT_DENSE) {
    m.indptr64 = indptr;
    m.indices64 = indices;
    m.indptr32.assign(indptr.begin(), indptr.end());
    m.indices32.assign(indices.begin(), indices.end());
  }
  return m;
}

// The result of one call, with everything it wrote.
struct Result {
  normot_status status = NORMOT_ERROR_INTERNAL;
  std::string message;
  std::vector<unsigned char> values, size_factors, totals;
  double target = 0;
  int64_t n_zero_cells = -1, n_excluded_genes = -1;
};

// Runs normalize_total out of place (or in place, on a copy of m's values) and returns what it
// wrote, reordered into CSR entry order for sparse layouts ("values" holds all of a dense
// buffer, in its own order).
inline Result RunNormalize(normot_context *context, HostMatrix m,
                           const normot_normalize_params &params, normot_value_type out_type,
                           bool in_place = false) {
  Result result;
  normot_matrix X = m.View();
  size_t out_size = normot_value_size(out_type);
  std::vector<unsigned char> out((size_t)m.n_elements() * out_size, 0xA5);
  result.size_factors.assign((size_t)m.rows * out_size, 0xA5);
  result.totals.assign((size_t)m.rows * out_size, 0xA5);
  normot_normalize_output output{};
  output.values = in_place ? nullptr : (out.empty() ? nullptr : out.data());
  if (!in_place && out.empty()) output.values = &result;  // non-NULL: not in place
  output.value_type = out_type;
  output.size_factors = result.size_factors.empty() ? nullptr : result.size_factors.data();
  output.totals = result.totals.empty() ? nullptr : result.totals.data();
  result.status = normot_normalize_total(context, &X, &params, &output);
  result.message = normot_context_last_error(context);
  const std::vector<unsigned char> &written = in_place ? m.values : out;
  if (m.layout == NORMOT_LAYOUT_DENSE) {
    result.values = written;
  } else {
    result.values.assign((size_t)m.nnz * out_size, 0);
    for (int64_t k = 0; k < m.nnz; ++k)
      std::memcpy(&result.values[(size_t)k * out_size],
                  &written[(size_t)m.entry_position[(size_t)k] * out_size], out_size);
  }
  result.target = output.target;
  result.n_zero_cells = output.n_zero_cells;
  result.n_excluded_genes = output.n_excluded_genes;
  return result;
}

// Dense results in CSR entry order (to compare a dense run with a sparse one), and a check that
// every non-entry element within a row is +0.0.
inline std::vector<unsigned char> DenseEntries(const HostMatrix &m, const Result &r,
                                               normot_value_type out_type,
                                               bool *implicit_zeros_ok) {
  size_t out_size = normot_value_size(out_type);
  std::vector<unsigned char> entries((size_t)m.nnz * out_size);
  std::vector<bool> is_entry((size_t)(m.rows * m.ld), false);
  for (int64_t k = 0; k < m.nnz; ++k) {
    size_t p = (size_t)m.entry_position[(size_t)k];
    is_entry[p] = true;
    std::memcpy(&entries[(size_t)k * out_size], &r.values[p * out_size], out_size);
  }
  *implicit_zeros_ok = true;
  std::vector<unsigned char> zero(out_size, 0);
  for (int64_t row = 0; row < m.rows; ++row)
    for (int64_t c = 0; c < m.cols; ++c) {
      size_t p = (size_t)(row * m.ld + c);
      if (!is_entry[p] && std::memcmp(&r.values[p * out_size], zero.data(), out_size) != 0)
        *implicit_zeros_ok = false;
    }
  return entries;
}

}  // namespace normalize_test

#endif
