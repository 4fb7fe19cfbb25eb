#include <gtest/gtest.h>

#include "config/suggest.hpp"

namespace kasmina::config_detail {
namespace {

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "ab"), 2u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("optimiser", "optimizer"), 1u);
  EXPECT_EQ(edit_distance("layrs", "layers"), 1u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
}

TEST(Suggest, ClosestName) {
  const std::vector<std::string> top = {"name",       "seed",      "device",      "data",
                                        "model",      "optimizer", "lr_schedule", "schedule",
                                        "controller", "train",     "telemetry",   "checkpoint"};
  EXPECT_EQ(closest_name("optimiser", top), "optimizer");
  EXPECT_EQ(closest_name("trian", top), "train");
  EXPECT_EQ(closest_name("sched", top), "schedule");        // a prefix
  EXPECT_EQ(closest_name("lr_sched", top), "lr_schedule");  // a prefix
  EXPECT_EQ(closest_name("controler", top), "controller");  // 1 edit
  EXPECT_EQ(closest_name("trainer", top), "train");         // 2 edits
  EXPECT_EQ(closest_name("devices_list", top), "device");   // the allowed name is a prefix
  EXPECT_EQ(closest_name("colour", top), std::nullopt);
  EXPECT_EQ(closest_name("p", {"type", "out", "in", "bias"}), std::nullopt);
  EXPECT_EQ(closest_name("", top), std::nullopt);
}

TEST(Suggest, Join) {
  EXPECT_EQ(join({}), "");
  EXPECT_EQ(join({"a"}), "a");
  EXPECT_EQ(join({"a", "b", "c"}), "a, b, c");
}

}  // namespace
}  // namespace kasmina::config_detail
