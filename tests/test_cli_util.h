// Helpers for the CLI tests: a scratch directory per test, files in it, and running the built
// `normot` with its exit code and stderr captured.
#ifndef NORMOT_TEST_CLI_UTIL_H
#define NORMOT_TEST_CLI_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char **environ;

namespace cli_test {

inline std::string ReadWholeFile(const std::string &path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

inline void WriteWholeFile(const std::string &path, const std::string &bytes) {
  std::ofstream stream(path, std::ios::binary);
  stream << bytes;
}

inline bool FileExists(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its files at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const char *base = getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/normot_cli_test_XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (mkdtemp(name.data()) != nullptr) path_ = name.data();
  }
  ~ScratchDir() {
    for (const std::string &entry : Entries()) unlink((path_ + "/" + entry).c_str());
    rmdir(path_.c_str());
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  bool ok() const { return !path_.empty(); }
  std::string Path(const std::string &name) const { return path_ + "/" + name; }
  std::set<std::string> Entries() const {
    std::set<std::string> names;
    DIR *dir = opendir(path_.c_str());
    if (dir == nullptr) return names;
    while (struct dirent *entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.insert(name);
    }
    closedir(dir);
    return names;
  }

 private:
  std::string path_;
};

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs NORMOT_CLI_PATH with `args`; stdout and stderr go to files in `capture_dir` (which should
// not be the directory whose listing a test checks).
inline CliRun RunCli(const std::vector<std::string> &args, const ScratchDir &capture_dir) {
  CliRun run;
  std::string out_path = capture_dir.Path("stdout.txt");
  std::string err_path = capture_dir.Path("stderr.txt");
  std::vector<char *> argv;
  std::string program = NORMOT_CLI_PATH;
  argv.push_back(const_cast<char *>(program.c_str()));
  for (const std::string &arg : args) argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    run.err = "posix_spawn failed";
    return run;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.out = ReadWholeFile(out_path);
  run.err = ReadWholeFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return run;
}

// What a run under limits did: `signal` is the signal that ended it (0 when it exited), and
// `max_rss_kib` its peak resident memory.
struct LimitedRun : CliRun {
  int signal = 0;
  long max_rss_kib = 0;
};

struct RunLimits {
  rlim_t file_size = RLIM_INFINITY;      // RLIMIT_FSIZE, bytes
  rlim_t address_space = RLIM_INFINITY;  // RLIMIT_AS, bytes
  rlim_t cpu_seconds = 120;              // RLIMIT_CPU: a run that loops is stopped
  bool ignore_file_size_signal = false;  // SIGXFSZ ignored: writes fail with EFBIG instead
};

// Runs NORMOT_CLI_PATH with `args` under `limits` (set in the child before exec); stdout and
// stderr captured in `capture_dir` as RunCli does.
inline LimitedRun RunCliLimited(const std::vector<std::string> &args, const ScratchDir &capture_dir,
                                const RunLimits &limits) {
  LimitedRun run;
  std::string out_path = capture_dir.Path("stdout.txt");
  std::string err_path = capture_dir.Path("stderr.txt");
  std::string program = NORMOT_CLI_PATH;
  std::vector<char *> argv;
  argv.push_back(const_cast<char *>(program.c_str()));
  for (const std::string &arg : args) argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = limits.file_size;
    setrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = limit.rlim_max = limits.address_space;
    setrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = limit.rlim_max = limits.cpu_seconds;
    setrlimit(RLIMIT_CPU, &limit);
    if (limits.ignore_file_size_signal) signal(SIGXFSZ, SIG_IGN);
    execve(program.c_str(), argv.data(), environ);
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  int status = 0;
  struct rusage usage;
  memset(&usage, 0, sizeof usage);
  if (pid > 0 && wait4(pid, &status, 0, &usage) == pid) {
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
    run.max_rss_kib = usage.ru_maxrss;
  }
  run.out = ReadWholeFile(out_path);
  run.err = ReadWholeFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return run;
}

// Each CLI test gets a directory for inputs and outputs (whose listing a test may check) and one
// for the captured stdout/stderr.
class CliFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(work_.ok());
    ASSERT_TRUE(capture_.ok());
  }
  std::string Path(const std::string &name) const { return work_.Path(name); }
  CliRun Run(const std::vector<std::string> &args) const { return RunCli(args, capture_); }

  ScratchDir work_;
  ScratchDir capture_;
};

// True when `text` is exactly one line "normot: ...\n".
inline bool IsOneMessageLine(const std::string &text) {
  if (text.size() < 9 || text.compare(0, 8, "normot: ") != 0) return false;
  return text.find('\n') == text.size() - 1;
}

// The committed malformed Matrix Market files in tests/data/cli (each name says what is wrong).
inline std::vector<const char *> BadMtxFiles() {
  return {
      "array_format.mtx",
      "bad_header_format.mtx",
      "col_index_too_big.mtx",
      "complex_field.mtx",
      "duplicates_overflow.mtx",
      "empty.mtx",
      "entries_in_empty_matrix.mtx",
      "extra_field.mtx",
      "fraction_in_integer_file.mtx",
      "header_extra_word.mtx",
      "index_zero.mtx",
      "inf_value.mtx",
      "integer_value_overflow.mtx",
      "missing_value.mtx",
      "nan_value.mtx",
      "negative_nnz.mtx",
      "negative_rows.mtx",
      "nnz_beyond_file.mtx",
      "no_size_line.mtx",
      "non_numeric_index.mtx",
      "non_numeric_value.mtx",
      "not_matrix_market.mtx",
      "nul_bytes.mtx",
      "overflowing_real.mtx",
      "row_index_too_big.mtx",
      "rows_beyond_memory.mtx",
      "rows_times_cols_overflow.mtx",
      "short_size_line.mtx",
      "size_beyond_64_bits.mtx",
      "symmetric.mtx",
      "too_many_entries.mtx",
      "truncated_entries.mtx",
  };
}

}  // namespace cli_test

#endif
