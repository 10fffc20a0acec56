// The built `normot` tool, run as a process: every bad input exits non-zero with one line on
// stderr and leaves no output (nor temporary) file; good inputs give what the C API gives.
#include <gtest/gtest.h>
#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_cli_util.h"
#include "test_support.h"

extern "C" {
#include "normot_io.h"
}

namespace {

using cli_test::CliRun;
using cli_test::IsOneMessageLine;
using cli_test::ReadWholeFile;
using cli_test::RunCli;
using cli_test::ScratchDir;
using cli_test::WriteWholeFile;

class CliTest : public cli_test::CliFixture {
 protected:
  // Runs a command that must fail: exit code `expected_exit` (1 bad input, 2 bad usage), one
  // line on stderr, and the work directory holding exactly the inputs it held before.
  void ExpectCleanFailure(const std::vector<std::string> &args, int expected_exit = 1) {
    std::set<std::string> before = work_.Entries();
    CliRun run = Run(args);
    std::string joined;
    for (const std::string &arg : args) joined += " " + arg;
    EXPECT_EQ(run.exit_code, expected_exit) << joined << "\n" << run.err;
    EXPECT_TRUE(IsOneMessageLine(run.err)) << joined << "\nstderr: [" << run.err << "]";
    EXPECT_EQ(work_.Entries(), before) << joined << ": an output or temporary file was left";
  }

  void WriteNpy(const std::string &name, normot_value_type type, std::vector<int64_t> shape,
                const std::vector<double> &values) {
    cli_array array;
    memset(&array, 0, sizeof array);
    array.ndim = (int)shape.size();
    for (size_t d = 0; d < shape.size(); ++d) array.shape[d] = shape[d];
    array.type = type;
    std::vector<float> f(values.begin(), values.end());
    std::vector<int64_t> i64(values.begin(), values.end());
    std::vector<double> f64 = values;
    f.push_back(0);
    i64.push_back(0);
    f64.push_back(0);
    array.data = type == NORMOT_FLOAT32 ? (void *)f.data()
                 : type == NORMOT_INT64 ? (void *)i64.data()
                                        : (void *)f64.data();
    char error[512] = "";
    ASSERT_EQ(cli_npy_write(Path(name).c_str(), &array, error, sizeof error), 0) << error;
  }
};

// ---- usage --------------------------------------------------------------------------------

TEST_F(CliTest, HelpAndUsageErrors) {
  CliRun help = Run({"normalize", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--dtype float32|float64"), std::string::npos);
  EXPECT_NE(help.out.find("float32 for integer input"), std::string::npos);
  EXPECT_EQ(Run({"emd", "--help"}).exit_code, 0);
  WriteWholeFile(Path("in.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 3\n");
  std::string in = Path("in.mtx");
  ExpectCleanFailure({"normalize", in}, 2);                       // no -o
  ExpectCleanFailure({"normalize", "-o", Path("o.mtx")}, 2);      // no input
  ExpectCleanFailure({"normalize", in, "-o", Path("o.csv")}, 2);  // unknown format
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--bogus"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--max-fraction", "1.5"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--target-sum", "-3"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--target-sum", "nan"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--dtype", "int8"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--backend", "tpu"}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--threads", "-1"}, 2);
  // Above the library's bound: refused as usage, not by the library after reading the input.
  const std::string too_many = std::to_string(NORMOT_MAX_THREADS + 1);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--threads", too_many}, 2);
  ExpectCleanFailure({"demo", "--threads", too_many}, 2);
  ExpectCleanFailure({"normalize", in, "-o", Path("o.mtx"), "--size-factors", Path("s.txt")}, 2);
  ExpectCleanFailure({"normalize", in, in, "-o", Path("o.mtx")}, 2);
  ExpectCleanFailure({"normalize", in, "-o"}, 2);
  ExpectCleanFailure({"emd", "--out-cost", Path("c.npy")}, 2);  // no cost
  ExpectCleanFailure({"emd", "--cost", Path("m.npy")}, 2);      // no --out-cost
  ExpectCleanFailure({"emd", "--cost", Path("m.npy"), "--x", Path("x.npy"), "--y", Path("y.npy"),
                      "--out-cost", Path("c.npy")},
                     2);
  ExpectCleanFailure({"emd", "--x", Path("x.npy"), "--out-cost", Path("c.npy")}, 2);
  ExpectCleanFailure(
      {"emd", "--cost", Path("m.npy"), "--metric", "euclidean", "--out-cost", Path("c.npy")}, 2);
  ExpectCleanFailure(
      {"emd", "--cost", Path("m.npy"), "--out-cost", Path("c.npy"), "--out-plan", Path("c.npy")},
      2);
  ExpectCleanFailure({"emd", "--cost", Path("m.npy"), "--out-cost", Path("m.npy")}, 2);
  ExpectCleanFailure({"emd", "--cost", Path("m.npy"), "--out-cost", Path("c.txt")}, 2);
  ExpectCleanFailure(
      {"emd", "--cost", Path("m.npy"), "--out-cost", Path("c.npy"), "--max-iter", "-5"}, 2);
  CliRun unknown = Run({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
}

// ---- normalize: every malformed input -----------------------------------------------------

TEST_F(CliTest, NormalizeRefusesEveryMalformedMatrixMarketFile) {
  for (const char *name : cli_test::BadMtxFiles()) {
    std::string input = TestDataDir() + "/cli/" + name;
    ExpectCleanFailure(
        {"normalize", input, "-o", Path("out.mtx"), "--size-factors", Path("sf.npy")});
    ExpectCleanFailure({"normalize", input, "-o", Path("out.mtx"), "--transpose"});
  }
}

TEST_F(CliTest, NormalizeRefusesBadGzipMissingAndUnknownInputs) {
  std::string text = "%%MatrixMarket matrix coordinate integer general\n200 200 200\n";
  for (int i = 1; i <= 200; ++i) text += std::to_string(i) + " " + std::to_string(i) + " 7\n";
  std::string gz_path = Path("good.mtx.gz");
  gzFile file = gzopen(gz_path.c_str(), "wb");
  gzwrite(file, text.data(), (unsigned)text.size());
  gzclose(file);
  std::string gz = ReadWholeFile(gz_path);
  unlink(gz_path.c_str());
  WriteWholeFile(Path("truncated.mtx.gz"), gz.substr(0, gz.size() / 2));
  std::string corrupt = gz;
  for (size_t i = 20; i < corrupt.size() - 8; i += 3) corrupt[i] = (char)(corrupt[i] ^ 0x5a);
  WriteWholeFile(Path("corrupt.mtx.gz"), corrupt);
  WriteWholeFile(Path("noise.dat"), "\x01\x02\x03 not a matrix");
  for (const char *name : {"truncated.mtx.gz", "corrupt.mtx.gz", "absent.mtx", "noise.dat"})
    ExpectCleanFailure({"normalize", Path(name), "-o", Path("out.mtx")});
  // A directory that is not a 10x one, and an output into a directory that does not exist.
  ExpectCleanFailure({"normalize", TestDataDir() + "/cli", "-o", Path("out.mtx")});
  WriteWholeFile(Path("ok.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 3\n");
  ExpectCleanFailure({"normalize", Path("ok.mtx"), "-o", Path("no/such/dir/out.mtx")});
}

TEST_F(CliTest, NormalizeFailureInTheLibraryLeavesNoFiles) {
  // Every cell is zero and no target is given: the library refuses (no positive total).
  WriteWholeFile(Path("zeros.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n3 2 1\n1 1 0\n");
  ExpectCleanFailure(
      {"normalize", Path("zeros.mtx"), "-o", Path("out.mtx"), "--size-factors", Path("sf.npy")});
  // CUDA asked for where it cannot run.
  if (!normot_backend_available(NORMOT_BACKEND_CUDA)) {
    WriteWholeFile(Path("ok.mtx"),
                   "%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 3\n");
    ExpectCleanFailure({"normalize", Path("ok.mtx"), "-o", Path("out.mtx"), "--backend", "cuda"});
  }
}

// ---- normalize: results equal the C API's ---------------------------------------------------

struct NormalizeCase {
  std::vector<std::string> flags;
  normot_value_type dtype;
  bool has_target;
  double target;
  bool exclude;
  double max_fraction;
  bool log1p;
  bool transpose;
};

TEST_F(CliTest, NormalizeGivesTheSameBytesAsTheApi) {
  // A random count matrix with empty rows, duplicates in the file and unsorted entries.
  const int64_t cells = 60, genes = 45;
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int> count(0, 30);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<std::vector<int64_t>> dense(cells, std::vector<int64_t>(genes, 0));
  std::vector<std::vector<bool>> present(cells, std::vector<bool>(genes, false));
  std::vector<std::string> lines;
  for (int64_t c = 0; c < cells; ++c) {
    if (c % 11 == 3) continue;  // all-zero cells
    for (int64_t g = 0; g < genes; ++g) {
      if (unit(rng) > 0.3) continue;
      int v = count(rng) + (g == 7 ? 400 : 0);  // gene 7 is highly expressed
      dense[c][g] += v;
      present[c][g] = true;
      lines.push_back(std::to_string(c + 1) + " " + std::to_string(g + 1) + " " +
                      std::to_string(v));
    }
  }
  lines.push_back("5 6 2");  // a duplicate of whatever (5, 6) held: summed
  dense[4][5] += 2;
  present[4][5] = true;
  std::shuffle(lines.begin(), lines.end(), rng);
  auto write_file = [&](const std::string &name, bool genes_by_cells) {
    std::string text = "%%MatrixMarket matrix coordinate integer general\n";
    text += genes_by_cells ? std::to_string(genes) + " " + std::to_string(cells)
                           : std::to_string(cells) + " " + std::to_string(genes);
    text += " " + std::to_string(lines.size()) + "\n";
    for (const std::string &line : lines) {
      if (!genes_by_cells) {
        text += line + "\n";
      } else {
        size_t a = line.find(' '), b = line.find(' ', a + 1);
        text += line.substr(a + 1, b - a - 1) + " " + line.substr(0, a) + line.substr(b) + "\n";
      }
    }
    WriteWholeFile(Path(name), text);
  };
  write_file("counts.mtx", false);
  write_file("counts_t.mtx", true);

  // The reference: the dense counts as CSR, through the C API on the CPU backend.
  std::vector<int64_t> indptr{0}, indices;
  std::vector<int32_t> values;
  for (int64_t c = 0; c < cells; ++c) {
    for (int64_t g = 0; g < genes; ++g) {
      bool in_file = present[c][g];
      if (!in_file) continue;
      indices.push_back(g);
      values.push_back((int32_t)dense[c][g]);
    }
    indptr.push_back((int64_t)indices.size());
  }

  const std::vector<NormalizeCase> cases = {
      {{}, NORMOT_FLOAT32, false, 0, false, 0.05, false, false},
      {{"--dtype", "float64"}, NORMOT_FLOAT64, false, 0, false, 0.05, false, false},
      {{"--target-sum", "10000", "--log1p"}, NORMOT_FLOAT32, true, 1e4, false, 0.05, true, false},
      {{"--exclude-highly-expressed", "--max-fraction", "0.2", "--threads", "2"},
       NORMOT_FLOAT32,
       false,
       0,
       true,
       0.2,
       false,
       false},
      {{"--transpose", "--backend", "cpu"}, NORMOT_FLOAT32, false, 0, false, 0.05, false, true},
  };
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  for (const NormalizeCase &c : cases) {
    normot_matrix X =
        normot_matrix_csr(cells, genes, (int64_t)values.size(), indptr.data(), indices.data(),
                          NORMOT_INDEX_INT64, values.data(), NORMOT_INT32);
    normot_normalize_params params;
    normot_normalize_params_init(&params);
    params.has_target_sum = c.has_target;
    params.target_sum = c.target;
    params.exclude_highly_expressed = c.exclude;
    params.max_fraction = c.max_fraction;
    params.log1p = c.log1p;
    std::vector<double> expected64(values.size()), factors64(cells);
    std::vector<float> expected32(values.size()), factors32(cells);
    normot_normalize_output out;
    memset(&out, 0, sizeof out);
    out.value_type = c.dtype;
    out.values = c.dtype == NORMOT_FLOAT32 ? (void *)expected32.data() : (void *)expected64.data();
    out.size_factors =
        c.dtype == NORMOT_FLOAT32 ? (void *)factors32.data() : (void *)factors64.data();
    normot_status status = normot_normalize_total(context, &X, &params, &out);
    if (status == NORMOT_ERROR_NOT_IMPLEMENTED) {
      normot_context_destroy(context);
      GTEST_SKIP() << "normalize_total is not implemented yet on the CPU backend";
    }
    ASSERT_EQ(status, NORMOT_SUCCESS) << normot_context_last_error(context);

    std::vector<std::string> args = {"normalize",
                                     Path(c.transpose ? "counts_t.mtx" : "counts.mtx"),
                                     "-o",
                                     Path("out.mtx"),
                                     "--size-factors",
                                     Path("sf.npy"),
                                     "--quiet"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    CliRun run = Run(args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.err, "");  // stderr is not a terminal here: no summary, no progress

    cli_matrix read;
    char error[512] = "";
    ASSERT_EQ(cli_read_mtx(Path("out.mtx").c_str(), 0, &read, error, sizeof error), 0) << error;
    ASSERT_EQ(read.n_rows, cells);
    ASSERT_EQ(read.n_cols, genes);
    ASSERT_EQ(read.nnz, (int64_t)values.size());
    for (int64_t i = 0; i < read.nnz; ++i) {
      ASSERT_EQ(read.indices[i], indices[i]);
      double got = ((double *)read.values)[i];
      if (c.dtype == NORMOT_FLOAT32)
        ASSERT_EQ((float)got, expected32[i]) << i;
      else
        ASSERT_EQ(got, expected64[i]) << i;
    }
    cli_matrix_free(&read);
    cli_array sf;
    ASSERT_EQ(cli_npy_read(Path("sf.npy").c_str(), &sf, error, sizeof error), 0) << error;
    ASSERT_EQ(sf.ndim, 1);
    ASSERT_EQ(sf.shape[0], cells);
    ASSERT_EQ(sf.type, c.dtype);
    EXPECT_EQ(
        memcmp(sf.data,
               c.dtype == NORMOT_FLOAT32 ? (void *)factors32.data() : (void *)factors64.data(),
               cells * (c.dtype == NORMOT_FLOAT32 ? 4 : 8)),
        0);
    cli_array_free(&sf);
    std::set<std::string> expected_files = {"counts.mtx", "counts_t.mtx", "out.mtx", "sf.npy"};
    EXPECT_EQ(work_.Entries(), expected_files);
    unlink(Path("out.mtx").c_str());
    unlink(Path("sf.npy").c_str());
  }
  normot_context_destroy(context);
}

TEST_F(CliTest, NormalizeRealInputStaysFloat64AndGzipOutputReadsBack) {
  WriteWholeFile(Path("real.mtx"),
                 "%%MatrixMarket matrix coordinate real general\n2 3 4\n1 1 0.1\n1 3 2.5\n"
                 "2 2 1e-3\n2 3 7\n");
  CliRun run = Run({"normalize", Path("real.mtx"), "-o", Path("out.mtx.gz"), "--target-sum", "1"});
  if (run.exit_code != 0 && run.err.find("not") != std::string::npos &&
      run.err.find("implemented") != std::string::npos)
    GTEST_SKIP() << "normalize_total is not implemented yet: " << run.err;
  ASSERT_EQ(run.exit_code, 0) << run.err;
  cli_matrix read;
  char error[512] = "";
  ASSERT_EQ(cli_read_mtx(Path("out.mtx.gz").c_str(), 0, &read, error, sizeof error), 0) << error;
  // float64 throughout: each row sums to the target within float64 rounding.
  double row0 = ((double *)read.values)[0] + ((double *)read.values)[1];
  double row1 = ((double *)read.values)[2] + ((double *)read.values)[3];
  EXPECT_NEAR(row0, 1.0, 1e-15);
  EXPECT_NEAR(row1, 1.0, 1e-15);
  EXPECT_EQ(((double *)read.values)[0], 0.1 / ((0.1 + 2.5) / 1.0));
  cli_matrix_free(&read);
}

TEST_F(CliTest, NormalizeGivesOneResultForEveryFormOfThe10xData) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  std::string dir = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix";
  std::string h5 = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix.h5";
  CliRun from_mtx = Run({"normalize", dir + "/matrix.mtx.gz", "--transpose", "-o", Path("a.mtx")});
  if (from_mtx.exit_code != 0 && from_mtx.err.find("implemented") != std::string::npos)
    GTEST_SKIP() << from_mtx.err;
  ASSERT_EQ(from_mtx.exit_code, 0) << from_mtx.err;
  std::string expected = ReadWholeFile(Path("a.mtx"));
  EXPECT_EQ(expected.rfind("%%MatrixMarket matrix coordinate real general\n", 0), 0u);
  CliRun from_dir = Run({"normalize", dir, "-o", Path("b.mtx")});
  ASSERT_EQ(from_dir.exit_code, 0) << from_dir.err;
  EXPECT_EQ(ReadWholeFile(Path("b.mtx")), expected);
  if (cli_hdf5_available()) {
    CliRun from_h5 = Run({"normalize", h5, "-o", Path("c.mtx")});
    ASSERT_EQ(from_h5.exit_code, 0) << from_h5.err;
    // The same entries: the .h5 keeps Cell Ranger's order within a cell (as scanpy does).
    auto sorted_lines = [](const std::string &text) {
      std::vector<std::string> lines;
      std::istringstream stream(text);
      for (std::string line; std::getline(stream, line);) lines.push_back(line);
      std::sort(lines.begin(), lines.end());
      return lines;
    };
    EXPECT_EQ(sorted_lines(ReadWholeFile(Path("c.mtx"))), sorted_lines(expected));
    // The .h5ad output holds the same float32 values as the .mtx one.
    CliRun to_h5ad = Run({"normalize", dir, "-o", Path("d.h5ad")});
    ASSERT_EQ(to_h5ad.exit_code, 0) << to_h5ad.err;
    cli_matrix text, hdf5;
    char error[512] = "";
    ASSERT_EQ(cli_read_mtx(Path("a.mtx").c_str(), 0, &text, error, sizeof error), 0) << error;
    ASSERT_EQ(cli_read_h5ad(Path("d.h5ad").c_str(), &hdf5, error, sizeof error), 0) << error;
    ASSERT_EQ(hdf5.value_type, NORMOT_FLOAT32);
    ASSERT_EQ(hdf5.nnz, text.nnz);
    for (int64_t i = 0; i < text.nnz; ++i) {
      ASSERT_EQ(hdf5.indices[i], text.indices[i]);
      ASSERT_EQ(((float *)hdf5.values)[i], (float)((double *)text.values)[i]);
    }
    cli_matrix_free(&text);
    cli_matrix_free(&hdf5);
  }
}

TEST_F(CliTest, InterruptedWriteLeavesNoTemporaryFile) {
  // A matrix large enough that writing it takes a while (gzip), so that SIGTERM arrives while
  // the temporary file exists.
  const int64_t cells = 20000, genes = 2000, per_cell = 60;
  std::vector<int64_t> indptr{0}, indices;
  std::vector<int32_t> values;
  for (int64_t c = 0; c < cells; ++c) {
    for (int64_t j = 0; j < per_cell; ++j) {
      indices.push_back((c * 7 + j * 31) % genes);
      values.push_back((int32_t)(1 + (c + j) % 13));
    }
    std::sort(indices.end() - per_cell, indices.end());
    indices.erase(std::unique(indices.end() - per_cell, indices.end()), indices.end());
    values.resize(indices.size());
    indptr.push_back((int64_t)indices.size());
  }
  cli_matrix input;
  memset(&input, 0, sizeof input);
  input.n_rows = cells;
  input.n_cols = genes;
  input.nnz = (int64_t)indices.size();
  input.indptr = indptr.data();
  input.indices = indices.data();
  input.values = values.data();
  input.value_type = NORMOT_INT32;
  char error[512] = "";
  ASSERT_EQ(cli_write_mtx(Path("big.mtx").c_str(), &input, error, sizeof error), 0) << error;

  std::string program = NORMOT_CLI_PATH;
  std::vector<std::string> args = {
      program, "normalize", Path("big.mtx"), "-o", Path("out.mtx.gz"), "--target-sum", "1e4"};
  std::vector<char *> argv;
  for (std::string &arg : args) argv.push_back(&arg[0]);
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  bool saw_temporary = false;
  for (int poll = 0; poll < 60000 && !saw_temporary; ++poll) {
    for (const std::string &name : work_.Entries())
      if (name.find(".tmp.") != std::string::npos) saw_temporary = true;
    if (!saw_temporary) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = 0;
        break;
      }
      usleep(500);
    }
  }
  if (pid == 0) GTEST_SKIP() << "the write finished before it could be interrupted";
  ASSERT_TRUE(saw_temporary);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_EQ(work_.Entries(), std::set<std::string>{"big.mtx"});
}

// ---- emd: every malformed input ------------------------------------------------------------

TEST_F(CliTest, EmdRefusesMalformedNpyFiles) {
  const std::string ok_dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  auto npy = [](const std::string &dict, const std::string &data) {
    std::string header = dict;
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += (char)(header.size() & 0xff);
    bytes += (char)(header.size() >> 8);
    return bytes + header + data;
  };
  std::string good = npy(ok_dict, std::string(48, '\0'));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"bad_magic", "NOTNUMPY" + good.substr(8)},
      {"truncated_header", good.substr(0, 30)},
      {"garbage_header",
       npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ))", std::string(48, '\0'))},
      {"fortran",
       npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", std::string(48, '\0'))},
      {"big_endian",
       npy("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", std::string(48, '\0'))},
      {"uint8",
       npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", std::string(6, '\0'))},
      {"overflow",
       npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "")},
      {"truncated_data", good.substr(0, good.size() - 5)},
  };
  for (const auto &entry : bad) {
    std::string path = Path(entry.first + ".npy");
    WriteWholeFile(path, entry.second);
    ExpectCleanFailure(
        {"emd", "--cost", path, "--out-cost", Path("c.npy"), "--out-plan", Path("p.npy")});
  }
}

TEST_F(CliTest, EmdRefusesShapesTypesAndValuesThatDoNotFit) {
  std::vector<double> cost23 = {0, 1, 2, 1, 0, 1};
  WriteNpy("m23.npy", NORMOT_FLOAT64, {2, 3}, cost23);
  WriteNpy("m223.npy", NORMOT_FLOAT64, {2, 2, 3}, {0, 1, 2, 1, 0, 1, 0, 1, 2, 1, 0, 1});
  WriteNpy("m_int.npy", NORMOT_INT64, {2, 3}, cost23);
  WriteNpy("m_1d.npy", NORMOT_FLOAT64, {6}, cost23);
  WriteNpy("m_nan.npy", NORMOT_FLOAT64, {2, 3}, {0, 1, NAN, 1, 0, 1});
  WriteNpy("a2.npy", NORMOT_FLOAT64, {2}, {0.5, 0.5});
  WriteNpy("a3.npy", NORMOT_FLOAT64, {3}, {0.2, 0.3, 0.5});
  WriteNpy("a_k3.npy", NORMOT_FLOAT64, {3, 2}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5});
  WriteNpy("a_negative.npy", NORMOT_FLOAT64, {2}, {1.5, -0.5});
  WriteNpy("b3.npy", NORMOT_FLOAT64, {3}, {0.2, 0.3, 0.5});
  WriteNpy("b_unbalanced.npy", NORMOT_FLOAT64, {3}, {0.2, 0.3, 0.9});
  WriteNpy("x.npy", NORMOT_FLOAT64, {2, 2}, {0, 0, 1, 1});
  WriteNpy("y3.npy", NORMOT_FLOAT64, {3, 3}, {0, 0, 0, 1, 1, 1, 2, 2, 2});
  WriteNpy("x_k.npy", NORMOT_FLOAT64, {2, 2, 2}, {0, 0, 1, 1, 0, 0, 1, 1});
  WriteNpy("y_k3.npy", NORMOT_FLOAT64, {3, 3, 2}, std::vector<double>(18, 0.5));
  const std::string out_cost = Path("c.npy");
  const std::vector<std::vector<std::string>> cases = {
      {"--cost", Path("m_int.npy")},                                          // integer dtype
      {"--cost", Path("m_1d.npy")},                                           // not 2-D or 3-D
      {"--cost", Path("m23.npy"), "--a", Path("a3.npy")},                     // a does not match n
      {"--cost", Path("m23.npy"), "--b", Path("a2.npy")},                     // b does not match m
      {"--cost", Path("m223.npy"), "--a", Path("a_k3.npy")},                  // k = 2 vs k = 3
      {"--x", Path("x.npy"), "--y", Path("y3.npy")},                          // d = 2 vs d = 3
      {"--x", Path("x_k.npy"), "--y", Path("y_k3.npy")},                      // k = 2 vs k = 3
      {"--x", Path("x.npy"), "--y", Path("x_k.npy")},                         // 2-D vs 3-D
      {"--x", Path("x.npy"), "--y", Path("x.npy"), "--a", Path("a_k3.npy")},  // one cloud, k = 3
      {"--cost", Path("absent.npy")},                                         // missing file
      // The library's checks (NaN, negative or unbalanced weights):
      {"--cost", Path("m_nan.npy")},
      {"--cost", Path("m23.npy"), "--a", Path("a_negative.npy")},
      {"--cost", Path("m23.npy"), "--b", Path("b_unbalanced.npy")},
  };
  for (std::vector<std::string> args : cases) {
    args.insert(args.begin(), "emd");
    for (const char *extra : {"--out-cost", "--out-plan", "--out-u", "--out-v", "--out-status"}) {
      args.push_back(extra);
      args.push_back(Path(std::string(extra + 6) + ".npy"));
    }
    ExpectCleanFailure(args);
  }
}

TEST_F(CliTest, EmdRefusesPointCloudsWhoseCostsOverflow) {
  // Finite coordinates, squared distances of 1e400: the command used to write cost -5e199.
  WriteNpy("x.npy", NORMOT_FLOAT64, {2, 1}, {0, 1});
  WriteNpy("y.npy", NORMOT_FLOAT64, {2, 1}, {1e200, -1e200});
  for (const char *metric : {"sqeuclidean", "euclidean"}) {
    std::vector<std::string> args = {"emd",         "--x",        Path("x.npy"),   "--y",
                                     Path("y.npy"), "--metric",   metric,          "--out-cost",
                                     Path("c.npy"), "--out-plan", Path("plan.npy")};
    ExpectCleanFailure(args);
    CliRun run = Run(args);
    EXPECT_NE(run.err.find("the cost between x[0] and y[0] overflows"), std::string::npos)
        << run.err;
  }
}

// ---- emd: results equal the C API's -------------------------------------------------------

TEST_F(CliTest, EmdGivesTheSameResultsAsTheApi) {
  const int64_t k = 3, n = 4, m = 5;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0.1, 1.0);
  std::vector<double> cost(k * n * m), a(k * n), b(m);
  for (double &c : cost) c = unit(rng);
  double b_sum = 0;
  for (double &w : b) b_sum += (w = unit(rng));
  for (double &w : b) w /= b_sum;
  for (int64_t i = 0; i < k; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += (a[i * n + j] = unit(rng));
    for (int64_t j = 0; j < n; ++j) a[i * n + j] /= sum;
  }
  normot_context *context = nullptr;
  ASSERT_EQ(normot_context_create(&context, NORMOT_BACKEND_CPU, 0), NORMOT_SUCCESS);
  normot_emd_problem problem;
  memset(&problem, 0, sizeof problem);
  problem.k = k;
  problem.n = n;
  problem.m = m;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = a.data();
  problem.b = b.data();
  problem.b_shared = 1;
  problem.cost = cost.data();
  normot_emd_params params;
  normot_emd_params_init(&params);
  std::vector<double> costs(k), plans(k * n * m), u(k * n), v(k * m);
  std::vector<int32_t> statuses(k);
  normot_emd_result result;
  memset(&result, 0, sizeof result);
  result.cost = costs.data();
  result.plan = plans.data();
  result.u = u.data();
  result.v = v.data();
  result.status = statuses.data();
  normot_status status = normot_emd(context, &problem, &params, &result);
  normot_context_destroy(context);
  if (status == NORMOT_ERROR_NOT_IMPLEMENTED)
    GTEST_SKIP() << "normot_emd is not implemented yet on the CPU backend";
  ASSERT_EQ(status, NORMOT_SUCCESS);

  WriteNpy("m.npy", NORMOT_FLOAT64, {k, n, m}, cost);
  WriteNpy("a.npy", NORMOT_FLOAT64, {k, n}, a);
  WriteNpy("b.npy", NORMOT_FLOAT64, {m}, b);
  CliRun run =
      Run({"emd", "--cost", Path("m.npy"), "--a", Path("a.npy"), "--b", Path("b.npy"), "--out-cost",
           Path("cost.npy"), "--out-plan", Path("plan.npy"), "--out-u", Path("u.npy"), "--out-v",
           Path("v.npy"), "--out-status", Path("status.npy"), "--backend", "cpu"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto expect_array = [&](const std::string &name, const void *expected, size_t bytes,
                          std::vector<int64_t> shape, normot_value_type type) {
    cli_array read;
    char error[512] = "";
    ASSERT_EQ(cli_npy_read(Path(name).c_str(), &read, error, sizeof error), 0) << error;
    EXPECT_EQ(read.type, type) << name;
    ASSERT_EQ(read.ndim, (int)shape.size()) << name;
    for (size_t d = 0; d < shape.size(); ++d) EXPECT_EQ(read.shape[d], shape[d]) << name;
    EXPECT_EQ(memcmp(read.data, expected, bytes), 0) << name;
    cli_array_free(&read);
  };
  expect_array("cost.npy", costs.data(), k * 8, {k}, NORMOT_FLOAT64);
  expect_array("plan.npy", plans.data(), k * n * m * 8, {k, n, m}, NORMOT_FLOAT64);
  expect_array("u.npy", u.data(), k * n * 8, {k, n}, NORMOT_FLOAT64);
  expect_array("v.npy", v.data(), k * m * 8, {k, m}, NORMOT_FLOAT64);
  expect_array("status.npy", statuses.data(), k * 4, {k}, NORMOT_INT32);
  std::set<std::string> expected_files = {"m.npy",    "a.npy", "b.npy", "cost.npy",
                                          "plan.npy", "u.npy", "v.npy", "status.npy"};
  EXPECT_EQ(work_.Entries(), expected_files);

  // Unbalanced weights: refused by default, solved with b rescaled to sum(a) when asked.
  WriteNpy("b_heavy.npy", NORMOT_FLOAT64, {m}, std::vector<double>(m, 1.0));
  ExpectCleanFailure({"emd", "--cost", Path("m.npy"), "--a", Path("a.npy"), "--b",
                      Path("b_heavy.npy"), "--out-cost", Path("heavy.npy")});
  CliRun rescaled =
      Run({"emd", "--cost", Path("m.npy"), "--a", Path("a.npy"), "--b", Path("b_heavy.npy"),
           "--no-marginal-check", "--out-cost", Path("heavy.npy")});
  EXPECT_EQ(rescaled.exit_code, 0) << rescaled.err;

  // One problem of float32 point clouds: the cost of the CLI equals the API's on the same data.
  WriteNpy("x.npy", NORMOT_FLOAT32, {3, 2}, {0, 0, 1, 0, 0, 1});
  WriteNpy("y.npy", NORMOT_FLOAT32, {3, 2}, {1, 1, 2, 0, 0, 2});
  CliRun clouds = Run({"emd", "--x", Path("x.npy"), "--y", Path("y.npy"), "--metric", "euclidean",
                       "--out-cost", Path("cloud_cost.npy")});
  ASSERT_EQ(clouds.exit_code, 0) << clouds.err;
  cli_array read;
  char error[512] = "";
  ASSERT_EQ(cli_npy_read(Path("cloud_cost.npy").c_str(), &read, error, sizeof error), 0);
  ASSERT_EQ(read.ndim, 1);
  ASSERT_EQ(read.shape[0], 1);
  // Uniform weights 1/3: the optimal matching (0,0)->(0,2)?, brute force over permutations.
  const double px[3][2] = {{0, 0}, {1, 0}, {0, 1}}, py[3][2] = {{1, 1}, {2, 0}, {0, 2}};
  int perm[3] = {0, 1, 2};
  double best = INFINITY;
  do {
    double total = 0;
    for (int i = 0; i < 3; ++i)
      total += std::hypot((float)px[i][0] - (float)py[perm[i]][0],
                          (float)px[i][1] - (float)py[perm[i]][1]) /
               3.0;
    best = std::min(best, total);
  } while (std::next_permutation(perm, perm + 3));
  EXPECT_NEAR(((double *)read.data)[0], best, 1e-6);
  cli_array_free(&read);
}

}  // namespace
