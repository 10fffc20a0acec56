// anndata's rules for names and string columns (io/anndata_names.c): var_names_make_unique,
// the duplicate check, natural order and categorical codes. The expected values were printed by
// anndata 0.12 (anndata.utils.make_index_unique) and natsort (natsorted) for the same inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "normot_io.h"
}

namespace {

// Owned C strings for the functions that rename in place.
class Names {
 public:
  explicit Names(const std::vector<std::string> &names) {
    for (const auto &name : names) pointers_.push_back(strdup(name.c_str()));
  }
  ~Names() {
    for (char *p : pointers_) free(p);
  }
  Names(const Names &) = delete;
  Names &operator=(const Names &) = delete;
  char **data() { return pointers_.data(); }
  int64_t size() const { return static_cast<int64_t>(pointers_.size()); }
  std::vector<std::string> strings() const {
    return std::vector<std::string>(pointers_.begin(), pointers_.end());
  }

 private:
  std::vector<char *> pointers_;
};

std::vector<std::string> MadeUnique(const std::vector<std::string> &names, int *collided) {
  Names owned(names);
  EXPECT_EQ(cli_names_make_unique(owned.data(), owned.size(), collided), 0);
  return owned.strings();
}

}  // namespace

TEST(AnndataNames, MakeUniqueSuffixesRepeatsAsAnndata) {
  int collided = -1;
  EXPECT_EQ(MadeUnique({"a", "a", "b", "a", "a-1"}, &collided),
            (std::vector<std::string>{"a", "a-2", "b", "a-3", "a-1"}));
  EXPECT_EQ(collided, 1);  // "a-1" was taken: anndata warns about such suffixes
  EXPECT_EQ(MadeUnique({"x", "x", "x", "x-1", "x-1"}, &collided),
            (std::vector<std::string>{"x", "x-2", "x-3", "x-1", "x-1-1"}));
  EXPECT_EQ(collided, 1);
  EXPECT_EQ(MadeUnique({"g", "h", "g", "g"}, &collided),
            (std::vector<std::string>{"g", "h", "g-1", "g-2"}));
  EXPECT_EQ(collided, 0);
  EXPECT_EQ(MadeUnique({"u", "v"}, &collided), (std::vector<std::string>{"u", "v"}));
  EXPECT_EQ(collided, 0);
  EXPECT_EQ(MadeUnique({}, &collided), std::vector<std::string>{});
}

TEST(AnndataNames, FindsDuplicates) {
  Names repeated({"CD3E", "MT-1", "CD3E"}), distinct({"CD3E", "cd3e", "CD3E-1"}), none({});
  EXPECT_EQ(cli_names_have_duplicates(repeated.data(), repeated.size()), 1);
  EXPECT_EQ(cli_names_have_duplicates(distinct.data(), distinct.size()), 0);
  EXPECT_EQ(cli_names_have_duplicates(none.data(), none.size()), 0);
}

TEST(AnndataNames, NaturalOrderIsNatsorts) {
  // natsorted(sorted(...)) of these strings.
  const std::vector<std::string> expected = {"",    "1a",  "2",   "10",    "B",    "a",
                                             "a01", "a1",  "a1a", "a001b", "a2",   "a10",
                                             "a 1", "a-1", "b",   "x1.5",  "x1.10"};
  std::vector<std::string> shuffled = expected;
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 5, shuffled.end());
  std::sort(shuffled.begin(), shuffled.end(), [](const std::string &a, const std::string &b) {
    return cli_natural_compare(a.c_str(), b.c_str()) < 0;
  });
  EXPECT_EQ(shuffled, expected);
  EXPECT_EQ(cli_natural_compare("g2", "g2"), 0);
  EXPECT_LT(cli_natural_compare("g00000000000000000000009", "g10"), 0);  // beyond 64 bits
  EXPECT_GT(cli_natural_compare("g100000000000000000000000", "g99999999999999999999999"), 0);
}

TEST(AnndataNames, CategoricalHasSortedCategoriesAndCodes) {
  Names genomes({"g10", "g2", "g10", "1x", "g2"});
  cli_categorical categorical;
  ASSERT_EQ(cli_categorical_build(genomes.data(), genomes.size(), &categorical), 0);
  ASSERT_EQ(categorical.n_categories, 3);
  EXPECT_STREQ(categorical.categories[0], "1x");
  EXPECT_STREQ(categorical.categories[1], "g2");
  EXPECT_STREQ(categorical.categories[2], "g10");
  const int64_t codes[] = {2, 1, 2, 0, 1};
  for (int i = 0; i < 5; i++) EXPECT_EQ(categorical.codes[i], codes[i]) << i;
  cli_categorical_free(&categorical);
  EXPECT_EQ(categorical.codes, nullptr);
}
