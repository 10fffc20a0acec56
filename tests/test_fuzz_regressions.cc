// Inputs the fuzz targets (tests/fuzz) found to break the contract, rebuilt here as ordinary
// tests; the reproducers themselves are in tests/fuzz/regressions/<target>/ and CI's fuzzing
// step replays them too (docs/fuzzing.md).
#include <vector>

#include "test_emd_support.h"
#include "test_support.h"

namespace {

class FuzzRegressionTest : public BackendTest {};

// fuzz_emd, regressions/fuzz_emd/auction_zero_costs: with every cost 0 the auction's duals
// came back as multiples of 1 / (K 2^40) instead of 0, so u + v != M on the plan's support
// while the problem was reported OPTIMAL.
TEST_P(FuzzRegressionTest, AuctionOnAllZeroCostsGivesExactDuals) {
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = NORMOT_EMD_SOLVER_AUCTION;
  EmdCase weighted;
  weighted.n = 2, weighted.m = 3;
  weighted.a = {2, 1};
  weighted.b = {1, 1, 1};
  weighted.cost.assign(6, 0.0);
  EmdCase uniform;
  uniform.n = 3, uniform.m = 3;
  uniform.cost.assign(9, 0.0);
  for (const EmdCase &c : {weighted, uniform}) {
    EmdOutcome out;
    ASSERT_EQ(SolveBatch(context_, {c}, params, &out), NORMOT_SUCCESS)
        << normot_context_last_error(context_);
    ExpectCertificate(c, out, 0);
    EXPECT_EQ(out.cost[0], 0.0);
  }
}

NORMOT_INSTANTIATE_FOR_BACKENDS(FuzzRegressionTest);

}  // namespace
