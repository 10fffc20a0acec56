// The `normot` tool against hostile or unlucky conditions: tiny files declaring huge sizes, a
// disk that fills during an .h5ad write, outputs that name an input under another spelling,
// paths holding control characters, --threads at its maximum. Every failure is one line on
// stderr, exit status 1 (2 for usage), and leaves no file behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_cli_util.h"
#include "test_io_h5_util.h"

extern "C" {
#include "normot_io.h"
}

namespace {

using cli_test::CliRun;
using cli_test::IsOneMessageLine;
using cli_test::LimitedRun;
using cli_test::ReadWholeFile;
using cli_test::RunCli;
using cli_test::RunCliLimited;
using cli_test::RunLimits;
using cli_test::ScratchDir;
using cli_test::WriteWholeFile;

// A deterministic integer count matrix as Matrix Market text: about one entry in three.
std::string CountsMtx(int rows, int cols) {
  std::string body;
  long entries = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if ((r * 7 + c * 13) % 3 != 0) continue;
      body += std::to_string(r + 1) + " " + std::to_string(c + 1) + " " +
              std::to_string((r + c) % 9 + 1) + "\n";
      ++entries;
    }
  }
  return "%%MatrixMarket matrix coordinate integer general\n" + std::to_string(rows) + " " +
         std::to_string(cols) + " " + std::to_string(entries) + "\n" + body;
}

class CliHardening : public cli_test::CliFixture {
 protected:
  LimitedRun RunLimited(const std::vector<std::string> &args, const RunLimits &limits) const {
    return RunCliLimited(args, capture_, limits);
  }

  // A usage refusal (exit 2, one line) that leaves every file as it was.
  void ExpectRefusedUntouched(const std::vector<std::string> &args, const std::string &expected) {
    std::set<std::string> before = work_.Entries();
    std::string joined;
    for (const std::string &arg : args) joined += " " + arg;
    CliRun run = Run(args);
    EXPECT_EQ(run.exit_code, 2) << joined << "\n" << run.err;
    EXPECT_TRUE(IsOneMessageLine(run.err)) << joined << "\nstderr: [" << run.err << "]";
    EXPECT_NE(run.err.find(expected), std::string::npos) << joined << "\nstderr: " << run.err;
    EXPECT_EQ(work_.Entries(), before) << joined;
  }

  // Runs `normalize FILE -o out.mtx` under `limits` and expects a one-line refusal containing
  // `expected`, a peak memory under 256 MB, and no file left.
  void ExpectTinyFileRefused(const std::string &input, const std::string &expected,
                             const RunLimits &limits) {
    std::set<std::string> before = work_.Entries();
    LimitedRun run = RunLimited({"normalize", input, "-o", Path("out.mtx")}, limits);
    EXPECT_EQ(run.signal, 0) << input;
    EXPECT_EQ(run.exit_code, 1) << input << ": " << run.err;
    EXPECT_TRUE(IsOneMessageLine(run.err)) << input << ": [" << run.err << "]";
    EXPECT_NE(run.err.find(expected), std::string::npos) << input << ": " << run.err;
    EXPECT_LT(run.max_rss_kib, 256 * 1024) << input << ": peak memory of a refused tiny file";
    EXPECT_EQ(work_.Entries(), before) << input;
  }

  // The cost matrix [[0, 1], [1, 0]] as M.npy.
  void WriteSmallCost() const {
    cli_array cost;
    memset(&cost, 0, sizeof cost);
    double values[4] = {0.0, 1.0, 1.0, 0.0};
    cost.ndim = 2;
    cost.shape[0] = cost.shape[1] = 2;
    cost.type = NORMOT_FLOAT64;
    cost.data = values;
    char error[512] = "";
    ASSERT_EQ(cli_npy_write(Path("M.npy").c_str(), &cost, error, sizeof error), 0) << error;
  }
};

// ---- tiny files declaring huge sizes ---------------------------------------------------------

// Each is refused at once with a line saying what it would need, and the refusal itself stays
// small (a CPU-time limit stops a reader that would go through the declared data instead).
TEST_F(CliHardening, TinyFilesDeclaringHugeSizesAreRefusedInLittleMemory) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"rows.mtx", "a 100000000000 x 10 matrix with 0 entries needs 2.9 TiB"},
  };
  WriteWholeFile(Path("rows.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n100000000000 10 0\n");
  if (cli_hdf5_available()) {
#ifdef NORMOT_HAVE_HDF5
    io_test::WriteUnwrittenDenseH5ad(Path("dense.h5ad"), 100000, 100000);
    io_test::WriteUnwritten10xH5(Path("cells.h5"), 100000000);
#endif
    cases.emplace_back("dense.h5ad", "'X' declares 10000000000 values");
    cases.emplace_back("cells.h5", "'indptr' declares 100000001 values");
  }
  RunLimits limits;
  limits.cpu_seconds = 20;
  for (const auto &[name, expected] : cases) ExpectTinyFileRefused(Path(name), expected, limits);
}

// An empty matrix of 552 million cells fits a large machine's memory (17 GB) but no count matrix
// is mostly empty cells: a 63-byte file used to take 17 GB and two minutes before a refusal.
TEST_F(CliHardening, AMostlyEmptyDeclaredShapeIsRefusedInLittleMemory) {
  WriteWholeFile(Path("rows.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n552199351 2 0\n");
  RunLimits limits;
  limits.cpu_seconds = 20;
  // Refused for its memory on a small machine, as implausible on a large one: the same start.
  ExpectTinyFileRefused(Path("rows.mtx"), "rows.mtx: a 552199351 x 2 matrix with 0 entries ",
                        limits);
}

// Rows plus columns may be 2^22 plus 16 per entry, and not one more.
TEST_F(CliHardening, EmptyRowsAndColumnsAreBoundedByTheEntries) {
  struct Case {
    const char *size_line_and_entries;
    bool accepted;
  };
  const Case cases[] = {{"4194302 2 0\n", true},
                        {"4194303 2 0\n", false},
                        {"2 4194318 1\n1 1 3\n", true},
                        {"2 4194319 1\n1 1 3\n", false},
                        {"5000000 5000000 0\n", false}};
  for (const Case &c : cases) {
    const char *size_line = c.size_line_and_entries;
    WriteWholeFile(Path("shape.mtx"),
                   std::string("%%MatrixMarket matrix coordinate integer general\n") + size_line);
    cli_matrix matrix;
    char error[512] = "";
    const int status = cli_read_matrix(Path("shape.mtx").c_str(), 0, &matrix, error, sizeof error);
    if (c.accepted) {
      EXPECT_EQ(status, 0) << size_line << ": " << error;
      if (status == 0) cli_matrix_free(&matrix);
    } else {
      EXPECT_NE(status, 0) << size_line;
      EXPECT_NE(std::string(error).find("is implausible: more rows and columns than 4194304 plus "
                                        "16 per entry"),
                std::string::npos)
          << error;
    }
  }
}

// 10^9 cells fit a large machine (about 30 GiB to read and normalize) but not a process limited
// to 8 GiB of address space: the limit counts as the memory available.
TEST_F(CliHardening, AnAddressSpaceLimitCountsAsTheMemoryAvailable) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer maps terabytes of shadow memory: no address-space limit";
#else
  WriteWholeFile(Path("rows.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n1000000000 10 0\n");
  RunLimits limits;
  limits.address_space = rlim_t{8} << 30;
  limits.cpu_seconds = 20;
  ExpectTinyFileRefused(Path("rows.mtx"),
                        "a 1000000000 x 10 matrix with 0 entries needs 29.8 GiB, more than the",
                        limits);
#endif
}

// NORMOT_MAX_MEMORY caps the budget below what the machine has (the fuzz targets run under a
// 256 MB limit): an empty matrix of 552 million cells fits this machine but not 128 MiB.
TEST_F(CliHardening, AConfiguredMemoryCapCountsAsTheMemoryAvailable) {
  WriteWholeFile(Path("rows.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n552199351 2 0\n");
  ASSERT_EQ(setenv("NORMOT_MAX_MEMORY", "134217728", 1), 0);
  cli_matrix matrix;
  char error[512] = "";
  const int status = cli_read_matrix(Path("rows.mtx").c_str(), 0, &matrix, error, sizeof error);
  unsetenv("NORMOT_MAX_MEMORY");
  ASSERT_NE(status, 0);
  EXPECT_NE(std::string(error).find("a 552199351 x 2 matrix with 0 entries needs"),
            std::string::npos)
      << error;
  EXPECT_NE(std::string(error).find("128.0 MiB"), std::string::npos) << error;
}

// A 10x directory's genes are columns once transposed: their names count against the budget
// too (a tiny directory declaring 184 million genes used to allocate 1.5 GB of name slots).
TEST_F(CliHardening, DeclaredGenesCountAgainstTheMemoryBudget) {
  WriteWholeFile(Path("genes.mtx"),
                 "%%MatrixMarket matrix coordinate integer general\n184612745 2 1\n1 1 5\n");
  ASSERT_EQ(setenv("NORMOT_MAX_MEMORY", "134217728", 1), 0);
  cli_matrix matrix;
  char error[512] = "";
  const int status = cli_read_matrix(Path("genes.mtx").c_str(), 1, &matrix, error, sizeof error);
  unsetenv("NORMOT_MAX_MEMORY");
  ASSERT_NE(status, 0);
  EXPECT_NE(std::string(error).find("a 184612745 x 2 matrix with 1 entries needs"),
            std::string::npos)
      << error;
}

// ---- a failed .h5ad write --------------------------------------------------------------------

// The file-size limit stands in for a full disk. libhdf5 1.10 used to crash in its exit handler
// on the half-closed file (SIGSEGV, exit 139) after the message was printed.
TEST_F(CliHardening, FailedH5adWriteExitsOneWithItsCauseAndLeavesNothing) {
  if (!cli_hdf5_available()) GTEST_SKIP() << "built without HDF5";
  WriteWholeFile(Path("counts.mtx"), CountsMtx(3000, 100));
  RunLimits limits;
  limits.file_size = 64 * 1024;
  limits.ignore_file_size_signal = true;
  LimitedRun run = RunLimited({"normalize", Path("counts.mtx"), "-o", Path("out.h5ad")}, limits);
  EXPECT_EQ(run.signal, 0) << run.err;
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.err, "normot: cannot write '" + Path("out.h5ad") + "': File too large\n");
  EXPECT_EQ(work_.Entries(), std::set<std::string>{"counts.mtx"});
}

// The size factors are staged under a temporary name; the message names the file asked for.
TEST_F(CliHardening, FailedStagedWriteNamesTheRealOutput) {
  WriteWholeFile(Path("counts.mtx"), CountsMtx(3000, 20));
  RunLimits limits;
  limits.file_size = 4096;
  limits.ignore_file_size_signal = true;
  LimitedRun run = RunLimited({"normalize", Path("counts.mtx"), "-o", Path("out.mtx"),
                               "--size-factors", Path("factors.npy")},
                              limits);
  EXPECT_EQ(run.signal, 0) << run.err;
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.err, "normot: cannot write " + Path("factors.npy") + ": File too large\n");
  EXPECT_EQ(run.err.find(".tmp."), std::string::npos) << run.err;
  EXPECT_EQ(work_.Entries(), std::set<std::string>{"counts.mtx"});
}

// rename() onto a directory fails: the message says why.
TEST_F(CliHardening, FailedRenameGivesItsReason) {
  WriteSmallCost();
  std::string directory = Path("taken.npy");
  ASSERT_EQ(mkdir(directory.c_str(), 0755), 0);
  CliRun run = Run({"emd", "--cost", Path("M.npy"), "--out-cost", directory});
  rmdir(directory.c_str());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.err,
            "normot: cannot rename the finished file onto " + directory + ": Is a directory\n");
  EXPECT_EQ(work_.Entries(), std::set<std::string>{"M.npy"});
}

// ---- outputs onto inputs ---------------------------------------------------------------------

TEST_F(CliHardening, NormalizeRefusesAnOutputThatIsTheInputUnderAnotherName) {
  std::string counts = CountsMtx(20, 10);
  WriteWholeFile(Path("a.mtx"), counts);
  ASSERT_EQ(link(Path("a.mtx").c_str(), Path("hard.mtx").c_str()), 0);
  ASSERT_EQ(symlink(Path("a.mtx").c_str(), Path("soft.mtx").c_str()), 0);
  std::string dotted = work_.Path(".") + "/a.mtx";
  ExpectRefusedUntouched({"normalize", Path("a.mtx"), "-o", dotted}, "would overwrite the input");
  ExpectRefusedUntouched({"normalize", Path("a.mtx"), "-o", Path("hard.mtx")},
                         "would overwrite the input");
  ExpectRefusedUntouched({"normalize", Path("soft.mtx"), "-o", Path("a.mtx")},
                         "would overwrite the input");
  // Size factors onto the input (a Matrix Market file under another name is sniffed and read).
  WriteWholeFile(Path("counts.npy"), counts);
  ExpectRefusedUntouched({"normalize", Path("counts.npy"), "-o", Path("out.mtx"), "--size-factors",
                          work_.Path(".") + "/counts.npy"},
                         "--size-factors");
  EXPECT_EQ(ReadWholeFile(Path("a.mtx")), counts);
  EXPECT_EQ(ReadWholeFile(Path("counts.npy")), counts);
}

TEST_F(CliHardening, NormalizeRefusesAnOutputOntoAFileOfTheInput10xDirectory) {
  std::string tenx = Path("tenx");
  ASSERT_EQ(mkdir(tenx.c_str(), 0755), 0);
  std::string matrix = CountsMtx(4, 3);  // genes x cells in a 10x directory
  WriteWholeFile(tenx + "/matrix.mtx", matrix);
  WriteWholeFile(tenx + "/genes.tsv", "G1\tA\nG2\tB\nG3\tC\nG4\tD\n");
  WriteWholeFile(tenx + "/barcodes.tsv", "AAAC-1\nAAAG-1\nAAAT-1\n");
  CliRun onto = Run({"normalize", tenx, "-o", tenx + "/matrix.mtx"});
  CliRun beside = Run({"normalize", tenx, "-o", tenx + "/normalized.mtx"});
  std::string after = ReadWholeFile(tenx + "/matrix.mtx");
  for (const char *name : {"matrix.mtx", "genes.tsv", "barcodes.tsv", "normalized.mtx"})
    unlink((tenx + "/" + name).c_str());
  rmdir(tenx.c_str());
  EXPECT_EQ(onto.exit_code, 2) << onto.err;
  EXPECT_TRUE(IsOneMessageLine(onto.err)) << onto.err;
  EXPECT_NE(onto.err.find("would overwrite the input"), std::string::npos) << onto.err;
  EXPECT_EQ(after, matrix);
  EXPECT_EQ(beside.exit_code, 0) << "a new file beside the input is fine: " << beside.err;
}

TEST_F(CliHardening, EmdRefusesOutputsOntoInputsOrOntoEachOther) {
  WriteSmallCost();
  std::string before = ReadWholeFile(Path("M.npy"));
  std::string dotted = work_.Path(".") + "/";
  ExpectRefusedUntouched({"emd", "--cost", Path("M.npy"), "--out-cost", dotted + "M.npy"},
                         "--out-cost would overwrite the input --cost");
  ExpectRefusedUntouched(
      {"emd", "--cost", Path("M.npy"), "--out-cost", Path("c.npy"), "--out-u", dotted + "c.npy"},
      "--out-cost and --out-u name the same file");
  EXPECT_EQ(ReadWholeFile(Path("M.npy")), before);
}

// ---- messages --------------------------------------------------------------------------------

TEST_F(CliHardening, APathWithControlCharactersStillGivesOneLine) {
  std::string odd = Path("no\nsuch\tfile.mtx");
  CliRun run = Run({"normalize", odd, "-o", Path("out.mtx")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(IsOneMessageLine(run.err)) << "[" << run.err << "]";
  EXPECT_NE(run.err.find("no\\nsuch\\tfile.mtx"), std::string::npos) << run.err;
}

// ---- the Matrix Market writer with many threads ----------------------------------------------

// --threads 4096 (the CLI's maximum) used to size the formatting buffers per thread: 32 GiB
// asked up front, which fails outright on a machine with less memory than that.
TEST(MtxWriterThreads, BuffersStayBoundedWhateverTheThreadCount) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  WriteWholeFile(dir.Path("in.mtx"), CountsMtx(1500, 200));
  io_test::Matrix in;
  char error[512] = "";
  ASSERT_EQ(cli_read_mtx(dir.Path("in.mtx").c_str(), 0, &in.m, error, sizeof error), 0) << error;
  ASSERT_GT(in.m.nnz, 65536) << "more entries than one formatting block";
  cli_set_io_threads(4096);
  EXPECT_LE(cli_mtx_format_buffer_bytes(), size_t{128} << 20);
  int written = cli_write_mtx(dir.Path("out.mtx").c_str(), &in.m, error, sizeof error);
  cli_set_io_threads(0);
  ASSERT_EQ(written, 0) << error;
  io_test::Matrix back;
  ASSERT_EQ(cli_read_mtx(dir.Path("out.mtx").c_str(), 0, &back.m, error, sizeof error), 0) << error;
  ASSERT_EQ(back.m.nnz, in.m.nnz);
  for (int64_t i = 0; i < in.m.nnz; ++i) {
    ASSERT_EQ(back.m.indices[i], in.m.indices[i]);
    ASSERT_EQ(io_test::ValueAt(back.m, i), io_test::ValueAt(in.m, i));
  }
  for (int64_t r = 0; r <= in.m.n_rows; ++r) ASSERT_EQ(back.m.indptr[r], in.m.indptr[r]);
}

}  // namespace
