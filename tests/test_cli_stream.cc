// `normot normalize` on an .h5ad or a 10x .h5 whose X is 10 times --max-memory: the streamed run
// stays within --max-memory + 64 MB of peak RSS and writes the in-memory run's file, byte for
// byte, for a CSR, a CSC and a dense X, float32 and integer values, each target rule, exclusion
// and log1p; a 10x .h5 with features other than gene expression, which both runs drop.
#ifdef NORMOT_HAVE_HDF5
#include <hdf5.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "test_cli_util.h"
#include "test_support.h"

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

namespace {

using cli_test::CliFixture;

enum class Layout { kCsr, kCsc, kDense };

// What an .h5ad to stream holds: X of rows x cols with `per_row` counts per cell (1..10, and a
// few dominant genes that exclude_highly_expressed leaves out), compressed as anndata can write
// it, with obs and var dataframes.
struct Spec {
  Layout layout;
  bool integers;
  int64_t rows, cols, per_row;
  int64_t flag_row = -1;    // >= 0: this cell alone flags a gene (one value far above the rest)
  bool fractional = false;  // float values that are not integers, of magnitudes far apart
};

struct Csr {
  std::vector<int64_t> indptr{0};
  std::vector<int32_t> indices;
  std::vector<float> values;
};

Csr MakeCounts(const Spec &spec) {
  Csr m;
  std::mt19937_64 rng(42);
  for (int64_t r = 0; r < spec.rows; ++r) {
    int64_t c = static_cast<int64_t>(rng() % 7);
    for (int64_t k = 0; k < spec.per_row && c < spec.cols; ++k) {
      float v = static_cast<float>(1 + rng() % 10);
      if (c % 97 == 0) v *= 50.0f;
      m.indices.push_back(static_cast<int32_t>(c));
      m.values.push_back(v);
      c += 1 + static_cast<int64_t>(rng() % (2 * spec.cols / spec.per_row - 1));
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  // Fractions over a wide range of magnitudes: a cell's sum of the other genes differs in its
  // last bits from its full sum less the excluded genes' values.
  if (spec.fractional)
    for (size_t i = 0; i < m.values.size(); ++i) m.values[i] *= i % 2 == 1 ? 1.37e-7f : 1.37f;
  if (spec.flag_row >= 0)  // the cell's first gene, a common one elsewhere, dominates it
    m.values[static_cast<size_t>(m.indptr[spec.flag_row])] = 1e6f;
  return m;
}

void StringAttribute(hid_t object, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, &value);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

// A chunked, deflated dataset (h5py's create_dataset(..., compression="gzip")).
void Dataset(hid_t location, const char *name, hid_t type, std::vector<hsize_t> dims,
             const void *data) {
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  std::vector<hsize_t> chunk(dims.size(), 1);
  chunk.back() = std::min<hsize_t>(dims.back() > 0 ? dims.back() : 1, 1 << 16);
  if (dims.size() == 2) chunk[0] = std::max<hsize_t>(1, (1 << 16) / chunk[1]);
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  if (count > 0) {
    H5Pset_chunk(properties, static_cast<int>(chunk.size()), chunk.data());
    H5Pset_deflate(properties, 1);
  }
  hid_t dataset = H5Dcreate2(location, name, type, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  if (count > 0) H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(dataset);
  H5Pclose(properties);
  H5Sclose(space);
}

void Dataframe(hid_t file, const char *name, int64_t length) {
  hid_t frame = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  StringAttribute(frame, "encoding-type", "dataframe");
  StringAttribute(frame, "encoding-version", "0.2.0");
  StringAttribute(frame, "_index", "_index");
  hsize_t none = 0;  // no columns: anndata writes an empty float array
  hid_t empty = H5Screate_simple(1, &none, nullptr);
  hid_t order = H5Acreate2(frame, "column-order", H5T_IEEE_F64LE, empty, H5P_DEFAULT, H5P_DEFAULT);
  H5Aclose(order);
  H5Sclose(empty);
  std::vector<std::string> names;
  for (int64_t i = 0; i < length; ++i) names.push_back(std::string(name) + std::to_string(i));
  std::vector<const char *> pointers;
  for (const std::string &n : names) pointers.push_back(n.c_str());
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  Dataset(frame, "_index", type, {static_cast<hsize_t>(length)}, pointers.data());
  H5Tclose(type);
  H5Gclose(frame);
}

// Writes the spec's .h5ad; returns the bytes X holds uncompressed.
double WriteH5ad(const std::string &path, const Spec &spec) {
  Csr m = MakeCounts(spec);
  std::vector<int32_t> counts(m.values.begin(), m.values.end());
  const void *values = spec.integers ? static_cast<const void *>(counts.data()) : m.values.data();
  hid_t value_type = spec.integers ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  StringAttribute(file, "encoding-type", "anndata");
  StringAttribute(file, "encoding-version", "0.1.0");
  double bytes = 0;
  if (spec.layout == Layout::kDense) {
    std::vector<float> dense(static_cast<size_t>(spec.rows * spec.cols), 0.0f);
    std::vector<int32_t> dense_counts(dense.size(), 0);
    for (int64_t r = 0; r < spec.rows; ++r)
      for (int64_t j = m.indptr[r]; j < m.indptr[r + 1]; ++j) {
        dense[r * spec.cols + m.indices[j]] = m.values[j];
        dense_counts[r * spec.cols + m.indices[j]] = counts[j];
      }
    const void *data = spec.integers ? static_cast<const void *>(dense_counts.data())
                                     : static_cast<const void *>(dense.data());
    Dataset(file, "X", value_type,
            {static_cast<hsize_t>(spec.rows), static_cast<hsize_t>(spec.cols)}, data);
    hid_t x = H5Dopen2(file, "X", H5P_DEFAULT);
    StringAttribute(x, "encoding-type", "array");
    StringAttribute(x, "encoding-version", "0.2.0");
    H5Dclose(x);
    bytes = 4.0 * static_cast<double>(dense.size());
  } else {
    std::vector<int64_t> ptr = m.indptr;
    std::vector<int32_t> index = m.indices;
    std::vector<float> vals = m.values;
    std::vector<int32_t> vals_counts = counts;
    if (spec.layout == Layout::kCsc) {  // the same matrix stored by columns
      ptr.assign(spec.cols + 1, 0);
      for (int32_t c : m.indices) ptr[c + 1]++;
      for (int64_t c = 0; c < spec.cols; ++c) ptr[c + 1] += ptr[c];
      std::vector<int64_t> next(ptr.begin(), ptr.end() - 1);
      for (int64_t r = 0; r < spec.rows; ++r)
        for (int64_t j = m.indptr[r]; j < m.indptr[r + 1]; ++j) {
          int64_t at = next[m.indices[j]]++;
          index[at] = static_cast<int32_t>(r);
          vals[at] = m.values[j];
          vals_counts[at] = counts[j];
        }
    }
    hid_t x = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    StringAttribute(x, "encoding-type", spec.layout == Layout::kCsr ? "csr_matrix" : "csc_matrix");
    StringAttribute(x, "encoding-version", "0.1.0");
    int64_t shape[2] = {spec.rows, spec.cols};
    hsize_t two = 2;
    hid_t space = H5Screate_simple(1, &two, nullptr);
    hid_t attribute = H5Acreate2(x, "shape", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attribute, H5T_NATIVE_INT64, shape);
    H5Aclose(attribute);
    H5Sclose(space);
    hsize_t nnz = vals.size();
    Dataset(x, "data", value_type, {nnz},
            spec.integers ? static_cast<const void *>(vals_counts.data()) : vals.data());
    Dataset(x, "indices", H5T_NATIVE_INT32, {nnz}, index.data());
    Dataset(x, "indptr", H5T_NATIVE_INT64, {static_cast<hsize_t>(ptr.size())}, ptr.data());
    H5Gclose(x);
    bytes = 8.0 * static_cast<double>(nnz) + 8.0 * static_cast<double>(ptr.size());
  }
  Dataframe(file, "obs", spec.rows);
  Dataframe(file, "var", spec.cols);
  hid_t uns = H5Gcreate2(file, "uns", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  StringAttribute(uns, "encoding-type", "dict");
  StringAttribute(uns, "encoding-version", "0.1.0");
  H5Gclose(uns);
  H5Fclose(file);
  return bytes;
}

// A Cell Ranger .h5 of the spec's counts (CSR cells x genes is the file's CSC genes x cells),
// gzip-compressed in chunks as Cell Ranger writes it. v3: /matrix, its features gene expression
// but every 50th, an antibody capture (dropped by both runs), with a genome column; v2: one
// genome group with genes and gene_names. Returns X's bytes.
double WriteTenx(const std::string &path, const Spec &spec, bool v3) {
  Csr m = MakeCounts(spec);
  std::vector<int32_t> counts(m.values.begin(), m.values.end());
  std::vector<int64_t> indices(m.indices.begin(), m.indices.end());
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t matrix = H5Gcreate2(file, v3 ? "matrix" : "GRCh38", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t nnz = counts.size();
  Dataset(matrix, "data", H5T_NATIVE_INT32, {nnz}, counts.data());
  Dataset(matrix, "indices", H5T_NATIVE_INT64, {nnz}, indices.data());
  Dataset(matrix, "indptr", H5T_NATIVE_INT64, {m.indptr.size()}, m.indptr.data());
  int32_t shape[2] = {static_cast<int32_t>(spec.cols), static_cast<int32_t>(spec.rows)};
  Dataset(matrix, "shape", H5T_NATIVE_INT32, {2}, shape);
  auto strings = [](hid_t location, const char *name, const std::vector<std::string> &values) {
    std::vector<const char *> pointers;
    for (const std::string &v : values) pointers.push_back(v.c_str());
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    Dataset(location, name, type, {static_cast<hsize_t>(values.size())}, pointers.data());
    H5Tclose(type);
  };
  std::vector<std::string> barcodes, ids, names, types, genomes;
  for (int64_t r = 0; r < spec.rows; ++r) barcodes.push_back("CELL" + std::to_string(r) + "-1");
  for (int64_t c = 0; c < spec.cols; ++c) {
    ids.push_back("ENSG" + std::to_string(c));
    names.push_back("Gene" + std::to_string(c % 997));  // repeats: the runs warn alike
    types.push_back(c % 50 == 3 ? "Antibody Capture" : "Gene Expression");
    genomes.push_back("GRCh38");
  }
  strings(matrix, "barcodes", barcodes);
  if (!v3) {
    strings(matrix, "genes", ids);
    strings(matrix, "gene_names", names);
  }
  hid_t features = !v3 ? -1 : H5Gcreate2(matrix, "features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (v3) {
    strings(features, "id", ids);
    strings(features, "name", names);
    strings(features, "feature_type", types);
    strings(features, "genome", genomes);
    H5Gclose(features);
  }
  H5Gclose(matrix);
  H5Fclose(file);
  return 12.0 * static_cast<double>(nnz) + 8.0 * static_cast<double>(m.indptr.size());
}

double WriteTenxH5(const std::string &path, const Spec &spec) {
  return WriteTenx(path, spec, true);
}
double WriteTenxV2H5(const std::string &path, const Spec &spec) {
  return WriteTenx(path, spec, false);
}

// Whether two files hold the same bytes, read a megabyte at a time.
bool SameBytes(const std::string &a, const std::string &b) {
  std::ifstream left(a, std::ios::binary), right(b, std::ios::binary);
  std::vector<char> x(1 << 20), y(1 << 20);
  if (!left || !right) return false;
  while (left && right) {
    left.read(x.data(), static_cast<std::streamsize>(x.size()));
    right.read(y.data(), static_cast<std::streamsize>(y.size()));
    if (left.gcount() != right.gcount() ||
        memcmp(x.data(), y.data(), static_cast<size_t>(left.gcount())) != 0)
      return false;
  }
  return !left && !right;
}

class CliStream : public CliFixture {
 protected:
  // Normalizes the spec's file in memory and streamed under 4 MiB; both must succeed with the same
  // bytes, the streamed run within 4 MiB + 64 MB of peak RSS.
  void ExpectStreamedEqualsInMemory(const Spec &spec, const std::vector<std::string> &options) {
    ExpectStreamedEqualsInMemory("in.h5ad", WriteH5ad, spec, options);
  }

  using Writer = std::function<double(const std::string &, const Spec &)>;
  void ExpectStreamedEqualsInMemory(const std::string &name, const Writer &write, const Spec &spec,
                                    const std::vector<std::string> &options) {
    const double max_memory = 4.0 * 1048576.0;
    std::string input = Path(name);
    // Made in a child process: a child's peak RSS counts what it inherited from its parent, so
    // this process stays small when it starts normot.
    pid_t pid = fork();
    if (pid == 0) _exit(write(input, spec) >= 10.0 * max_memory ? 0 : 3);
    int status = -1;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "X must be 10 times --max-memory";
    std::vector<std::string> memory_args = {"normalize", input, "-o", Path("memory.h5ad")};
    std::vector<std::string> stream_args = {"normalize",         input,          "-o",
                                            Path("stream.h5ad"), "--max-memory", "4M"};
    memory_args.insert(memory_args.end(), options.begin(), options.end());
    stream_args.insert(stream_args.end(), options.begin(), options.end());
    cli_test::RunLimits limits;
    cli_test::LimitedRun memory = cli_test::RunCliLimited(memory_args, capture_, limits);
    ASSERT_EQ(memory.exit_code, 0) << memory.err;
    cli_test::LimitedRun stream = cli_test::RunCliLimited(stream_args, capture_, limits);
    ASSERT_EQ(stream.exit_code, 0) << stream.err;
    // AddressSanitizer's shadow memory and quarantine add hundreds of MB to any run: the memory
    // bound is checked in the plain builds, byte equality everywhere.
    if (!kUnderAddressSanitizer) {
      EXPECT_LE(stream.max_rss_kib * 1024.0, max_memory + 64.0 * 1e6)
          << "peak RSS of the streamed run (in memory: " << memory.max_rss_kib << " KiB)";
    }
    EXPECT_TRUE(SameBytes(Path("memory.h5ad"), Path("stream.h5ad")))
        << "the streamed output differs from the in-memory one";
  }
};

TEST_F(CliStream, CsrFloatMedianTargetWithExclusionAndKeyAdded) {
  ExpectStreamedEqualsInMemory({Layout::kCsr, false, 60000, 1000, 100},
                               {"--exclude-highly-expressed", "--key-added", "size_factor"});
}

TEST_F(CliStream, CsrCountsTargetSumLog1p) {
  ExpectStreamedEqualsInMemory({Layout::kCsr, true, 60000, 1000, 100},
                               {"--target-sum", "1e4", "--log1p"});
}

TEST_F(CliStream, CscCountsMedianTargetWithExclusionAndLog1p) {
  ExpectStreamedEqualsInMemory({Layout::kCsc, true, 60000, 1000, 100},
                               {"--exclude-highly-expressed", "--log1p", "--key-added", "sf"});
}

TEST_F(CliStream, DenseFloatMedianTargetWithExclusion) {
  ExpectStreamedEqualsInMemory({Layout::kDense, false, 20000, 600, 40},
                               {"--exclude-highly-expressed", "--max-fraction", "0.2", "--log1p"});
}

TEST_F(CliStream, DenseCountsTargetSum) {
  ExpectStreamedEqualsInMemory({Layout::kDense, true, 20000, 600, 40}, {"--target-sum", "100"});
}

TEST_F(CliStream, TenxH5CountsMedianTargetWithExclusionLog1pAndKeyAdded) {
  ExpectStreamedEqualsInMemory("in.h5", WriteTenxH5, {Layout::kCsr, true, 20000, 3000, 300},
                               {"--exclude-highly-expressed", "--log1p", "--key-added", "sf"});
}

TEST_F(CliStream, TenxH5TargetSumGeneIdsFloat64) {
  ExpectStreamedEqualsInMemory("in.h5", WriteTenxH5, {Layout::kCsr, true, 20000, 3000, 300},
                               {"--target-sum", "1e4", "--var-names", "gene_ids", "--dtype",
                                "float64", "--max-fraction", "0.02", "--exclude-highly-expressed"});
}

TEST_F(CliStream, TenxV2H5UniqueSymbols) {
  ExpectStreamedEqualsInMemory("in.h5", WriteTenxV2H5, {Layout::kCsr, true, 20000, 3000, 300},
                               {"--var-names-make-unique"});
}

// The real Cell Ranger v3 file, streamed under a budget below what the in-memory run needs
// (23,866 values x 16 bytes and the names: ~500 KB), gives the in-memory bytes. (The legacy v2
// file, 12 values, cannot stream: its names alone take more than its matrix.)
TEST_F(CliStream, RealTenxH5FilesStreamToTheInMemoryBytes) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  const std::string v3 = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix.h5";
  const std::vector<std::vector<std::string>> cases = {
      {v3, "--exclude-highly-expressed", "--log1p", "--key-added", "sf"},
      {v3, "--target-sum", "1e4", "--var-names", "gene_ids", "--var-names-make-unique"},
  };
  for (const std::vector<std::string> &c : cases) {
    std::vector<std::string> memory = {"normalize", "-o", Path("memory.h5ad")};
    std::vector<std::string> stream = {"normalize", "-o", Path("stream.h5ad"), "--max-memory",
                                       "300K"};
    memory.insert(memory.end(), c.begin(), c.end());
    stream.insert(stream.end(), c.begin(), c.end());
    cli_test::CliRun in_memory = Run(memory);
    ASSERT_EQ(in_memory.exit_code, 0) << in_memory.err;
    cli_test::CliRun streamed = Run(stream);
    ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
    EXPECT_TRUE(SameBytes(Path("memory.h5ad"), Path("stream.h5ad"))) << c[0];
  }
}

// An .h5ad built from a 10x .h5 carries no modification time: the same bytes a second later.
TEST_F(CliStream, TenxH5OutputDoesNotDependOnTheTime) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  const std::string v3 = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix.h5";
  ASSERT_EQ(Run({"normalize", v3, "-o", Path("first.h5ad")}).exit_code, 0);
  usleep(1100000);
  ASSERT_EQ(Run({"normalize", v3, "-o", Path("second.h5ad")}).exit_code, 0);
  EXPECT_TRUE(SameBytes(Path("first.h5ad"), Path("second.h5ad")));
}

Spec LateFlag(Spec spec, int64_t row = -1) {
  spec.flag_row = row >= 0 ? row : spec.rows - 1;
  return spec;
}

// Exclusion where the last cell alone flags a gene: every earlier cell's total must leave that
// gene out too (pass 1 cannot know it: those cells are read again).
TEST_F(CliStream, CsrCountsExclusionFlaggedByTheLastCell) {
  ExpectStreamedEqualsInMemory(LateFlag({Layout::kCsr, true, 60000, 1000, 100}),
                               {"--exclude-highly-expressed", "--max-fraction", "0.9"});
}

// Flagged halfway: the blocks before are read again, the later ones keep pass 1's sums.
TEST_F(CliStream, CsrCountsExclusionFlaggedHalfway) {
  ExpectStreamedEqualsInMemory(LateFlag({Layout::kCsr, true, 60000, 1000, 100}, 30000),
                               {"--exclude-highly-expressed", "--max-fraction", "0.9", "--log1p"});
}

TEST_F(CliStream, DenseFloatExclusionFlaggedByTheLastCell) {
  ExpectStreamedEqualsInMemory(
      LateFlag({Layout::kDense, false, 20000, 600, 40}),
      {"--exclude-highly-expressed", "--max-fraction", "0.5", "--key-added", "sf"});
}

TEST_F(CliStream, TenxH5ExclusionFlaggedByTheLastCell) {
  ExpectStreamedEqualsInMemory("in.h5", WriteTenxH5,
                               LateFlag({Layout::kCsr, true, 20000, 3000, 300}),
                               {"--exclude-highly-expressed", "--max-fraction", "0.5"});
}

// Values that are not integers, of magnitudes far apart: the totals without the excluded genes
// are the library's own sums without them (a full sum less the excluded values would differ in
// the last bits).
TEST_F(CliStream, CsrFractionalExclusion) {
  Spec spec{Layout::kCsr, false, 60000, 1000, 100};
  spec.fractional = true;
  ExpectStreamedEqualsInMemory(spec, {"--exclude-highly-expressed", "--dtype", "float64"});
}

// A budget below what the per-cell arrays need is refused with one line, and no output.
TEST_F(CliStream, TooSmallABudgetIsRefused) {
  std::string input = Path("in.h5ad");
  WriteH5ad(input, {Layout::kCsr, false, 60000, 1000, 100});
  cli_test::CliRun run = Run({"normalize", input, "-o", Path("out.h5ad"), "--max-memory", "64K"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(cli_test::IsOneMessageLine(run.err)) << run.err;
  EXPECT_NE(run.err.find("too little to stream"), std::string::npos) << run.err;
  EXPECT_FALSE(cli_test::FileExists(Path("out.h5ad")));
}

}  // namespace
#endif  // NORMOT_HAVE_HDF5
