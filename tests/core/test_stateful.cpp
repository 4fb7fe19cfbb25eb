// The checkpoint-section views (core/stateful.hpp): names under a prefix, host copies, and the
// user errors for a missing or mis-shaped entry (the texts `kasmina train --resume` prints).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.hpp"
#include "core/stateful.hpp"
#include "tests/common/user_error.hpp"

namespace kasmina {
namespace {

TEST(StateSections, WriterPrefixesNamesAndStoresHostCopies) {
  RunState st;
  StateWriter root(st);
  Tensor t = Tensor::from_vector<float>({1.0f, 2.0f}, {2});
  StateWriter layer = root.section("seeds/kasmina3");
  EXPECT_EQ(layer.prefix(), "seeds/kasmina3/");
  layer.tensor("pool", t);
  layer.integer("boundaries", 7);
  root.section("trainer").section("epochs/0").number("train_loss", 0.25);
  root.tensor("layers.0.weight", t);
  t.copy_from(Tensor::from_vector<float>({5.0f, 6.0f}, {2}));  // the saved copy is unaffected

  ASSERT_EQ(st.tensors.size(), 2u);
  EXPECT_EQ(st.tensors[0].first, "seeds/kasmina3/pool");
  EXPECT_EQ(st.tensors[1].first, "layers.0.weight");
  EXPECT_EQ(st.tensors[0].second.to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(st.get_int("seeds/kasmina3/boundaries"), 7);
  EXPECT_EQ(st.get_float("trainer/epochs/0/train_loss"), 0.25);
}

TEST(StateSections, ReaderSeesOnlyItsSection) {
  RunState st;
  StateWriter w(st);
  w.tensor("controller/scores", Tensor::zeros({0, 3}, DType::f64));
  w.tensor("controller/layer0/stage", Tensor::zeros({4}, DType::i32));
  w.tensor("controllers/other", Tensor::zeros({1}, DType::i32));
  w.integer("trainer/transitions/0/2", 3);
  w.integer("trainer/transitions/1/7", 1);
  w.integer("trainer/transitionsX", 9);
  w.number("controller/heuristic/best_loss", 0.5);

  const StateReader in(st);
  const auto tensors = in.section("controller").tensors();
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].first, "scores");
  EXPECT_EQ(tensors[1].first, "layer0/stage");
  const auto ints = in.section("trainer/transitions").integers();
  EXPECT_EQ(ints, (std::map<std::string, int64_t>{{"0/2", 3}, {"1/7", 1}}));
  EXPECT_EQ(in.section("controller").numbers().at("heuristic/best_loss"), 0.5);
  EXPECT_TRUE(in.section("trainer").has_integer("transitions/0/2"));
  EXPECT_FALSE(in.section("trainer").has_integer("transitions"));
}

TEST(StateSections, LoadCopiesIntoTheDestination) {
  RunState st;
  StateWriter(st).section("guard").tensor("running", Tensor::from_vector<double>({1.5}, {1}));
  Tensor dst = Tensor::zeros({1}, DType::f64);
  StateReader(st).section("guard").load("running", dst);
  EXPECT_EQ(dst.to_vector<double>()[0], 1.5);
}

TEST(StateSections, MissingOrMisShapedEntriesAreUserErrorsNamingTheFullName) {
  RunState st;
  StateWriter(st).tensor("layers.0.weight", Tensor::zeros({16, 2}));
  const StateReader root(st);
  const StateReader guard = root.section("guard");
  EXPECT_EQ(testing::user_error_message([&] { guard.tensor("flag"); }),
            "checkpoint: no tensor 'guard/flag' (was it written by another model?)");
  EXPECT_EQ(
      testing::user_error_message([&] { guard.load("flag", Tensor::zeros({1}, DType::i32)); }),
      "checkpoint: no tensor 'guard/flag' (was it written by another model?)");
  EXPECT_EQ(testing::user_error_message([&] {
              root.load("layers.0.weight", Tensor::zeros({2, 16}));
            }),
            "checkpoint: tensor 'layers.0.weight' has shape [16x2] but this run's model has "
            "[2x16] (a different model configuration)");
  // Same shape, another dtype: the message says so.
  EXPECT_EQ(testing::user_error_message([&] {
              root.load("layers.0.weight", Tensor::zeros({16, 2}, DType::f64));
            }),
            "checkpoint: tensor 'layers.0.weight' has dtype float32 but this run's model has "
            "float64");
  EXPECT_EQ(testing::user_error_message([&] { root.section("trainer").integer("flagged_steps"); }),
            "checkpoint: no integer 'trainer/flagged_steps'");
  EXPECT_EQ(
      testing::user_error_message([&] { root.section("trainer").number("epochs/0/train_loss"); }),
      "checkpoint: no number 'trainer/epochs/0/train_loss'");
}

}  // namespace
}  // namespace kasmina
