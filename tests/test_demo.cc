// `normot demo`: runs end to end, prints its summary on stdout, nothing on stderr when stderr is
// not a terminal (progress lines are for terminals only), the same results for any thread
// count, and clean refusals of bad arguments and bad data.
#include <gtest/gtest.h>

#include <string>

#include "test_io_h5_util.h"
#include "test_support.h"

namespace {

struct Outcome {
  int status;
  std::string out, err;
};

// Runs `normot <arguments>` with stdout and stderr captured separately.
Outcome RunCli(const std::string &arguments) {
  io_test::TempDir dir;
  Outcome outcome;
  std::string command =
      std::string("'") + NORMOT_CLI_PATH + "' " + arguments + " 2>'" + dir.file("stderr") + "'";
  outcome.status = io_test::Run(command, &outcome.out);
  FILE *stream = fopen(dir.file("stderr").c_str(), "rb");
  if (stream != nullptr) {
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, stream)) > 0) outcome.err.append(buffer, got);
    fclose(stream);
  }
  return outcome;
}

bool Contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// The part of the summary that does not depend on timing: the EMD batch's cost statistics.
std::string CostLine(const std::string &out) {
  size_t at = out.find("cost mean");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

}  // namespace

TEST(Demo, SmallSyntheticRunPrintsItsSummary) {
  Outcome run = RunCli("demo --cells 1500 --genes 300 --problems 40 --points 30");
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "1500 cells x 300 genes")) << run.out;
  EXPECT_TRUE(Contains(run.out, "normalize_total + log1p")) << run.out;
  EXPECT_TRUE(Contains(run.out, "40 problems of 30 x 30")) << run.out;
  EXPECT_TRUE(Contains(run.out, "40 optimal")) << run.out;  // every problem solved exactly
  EXPECT_TRUE(Contains(run.out, "group EMD")) << run.out;
  EXPECT_EQ(run.err, "");  // not a terminal: no progress lines
}

TEST(Demo, ResultsDoNotDependOnTheThreadCount) {
  Outcome one = RunCli("demo --cells 800 --genes 200 --problems 30 --points 25 --threads 1");
  Outcome two = RunCli("demo --cells 800 --genes 200 --problems 30 --points 25 --threads 2");
  ASSERT_EQ(one.status, 0) << one.err;
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_NE(CostLine(one.out), "");
  EXPECT_EQ(CostLine(one.out), CostLine(two.out));
  Outcome other_seed =
      RunCli("demo --cells 800 --genes 200 --problems 30 --points 25 --threads 1 --seed 7");
  ASSERT_EQ(other_seed.status, 0) << other_seed.err;
  EXPECT_NE(CostLine(one.out), CostLine(other_seed.out));  // the seed does reach the data
}

TEST(Demo, DefaultRunExitsZero) {
  Outcome run = RunCli("demo --quiet");
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "20000 cells x 2000 genes")) << run.out;
  EXPECT_TRUE(Contains(run.out, "1000 problems of 100 x 100")) << run.out;
  EXPECT_TRUE(Contains(run.out, "1000 optimal")) << run.out;
  EXPECT_TRUE(Contains(run.out, "total")) << run.out;
}

TEST(Demo, RunsOnReal10xData) {
  if (SharedDataDir().empty()) GTEST_SKIP() << "../shared/data is absent";
  std::string dir = SharedDataDir() + "/10x/v3/filtered_feature_bc_matrix";
  Outcome run = RunCli("demo --problems 10 --points 20 --data '" + dir + "'");
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "1107 cells x 507 genes, 23866 non-zeros")) << run.out;
  EXPECT_TRUE(Contains(run.out, "28 pairs")) << run.out;  // 8 groups
}

TEST(Demo, RefusesBadArgumentsAndBadData) {
  Outcome usage = RunCli("demo --cells 0");
  EXPECT_EQ(usage.status, 2);
  EXPECT_TRUE(Contains(usage.err, "--cells")) << usage.err;
  EXPECT_EQ(usage.out, "");
  Outcome unknown = RunCli("demo --frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_TRUE(Contains(unknown.err, "--frobnicate")) << unknown.err;

  io_test::TempDir dir;
  io_test::WriteText(dir.file("bad.mtx"),
                     "%%MatrixMarket matrix coordinate integer general\n"
                     "3 3 2\n1 1 5\n");  // one entry short
  Outcome bad = RunCli("demo --data '" + dir.file("bad.mtx") + "'");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.out, "");
  // One line on stderr that names the problem.
  EXPECT_TRUE(Contains(bad.err, "normot: ")) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  Outcome missing = RunCli("demo --data '" + dir.file("absent") + "'");
  EXPECT_EQ(missing.status, 1);
  EXPECT_TRUE(Contains(missing.err, "absent")) << missing.err;
}

// On a terminal (a pseudo-terminal made by script(1)) the progress lines appear on stderr;
// --quiet removes them, and the summary is the same either way.
TEST(Demo, ProgressLinesOnlyOnATerminal) {
  if (io_test::Run("script -qec true /dev/null >/dev/null 2>&1", nullptr) != 0)
    GTEST_SKIP() << "script(1) from util-linux is not available to make a terminal";
  std::string arguments = "demo --cells 600 --genes 100 --problems 20 --points 20";
  std::string shown, quiet;
  ASSERT_EQ(io_test::Run(std::string("script -qec \"'") + NORMOT_CLI_PATH + "' " + arguments +
                             "\" /dev/null",
                         &shown),
            0)
      << shown;
  ASSERT_EQ(io_test::Run(std::string("script -qec \"'") + NORMOT_CLI_PATH + "' " + arguments +
                             " --quiet\" /dev/null",
                         &quiet),
            0)
      << quiet;
  EXPECT_TRUE(Contains(shown, "solving the EMD batch: 100.0% (20/20)")) << shown;
  EXPECT_TRUE(Contains(shown, "normalizing")) << shown;
  EXPECT_FALSE(Contains(quiet, "solving the EMD batch")) << quiet;
  EXPECT_TRUE(Contains(quiet, "20 optimal")) << quiet;
}
