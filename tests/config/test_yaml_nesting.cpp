// The nesting pre-scan: deep lists and mappings are found, brackets that are text are not.
#include <string>

#include <gtest/gtest.h>

#include "config/yaml_nesting.hpp"

namespace kasmina::config_detail {
namespace {

std::string flow(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(YamlNesting, FlowAndBlockDepthAddUp) {
  EXPECT_EQ(line_nesting_too_deep("a: " + flow(63) + "\n"), std::nullopt);  // 1 block + 63
  EXPECT_EQ(line_nesting_too_deep("a: " + flow(64) + "\n"), 1);
  EXPECT_EQ(line_nesting_too_deep("x: 1\nb:\n  c: " + flow(63) + "\n"), 3);
  std::string dashes = "a:\n";
  for (int i = 0; i < 70; ++i) dashes += "- ";
  EXPECT_EQ(line_nesting_too_deep(dashes + "x\n"), 2);
}

TEST(YamlNesting, BracketsThatAreTextDoNotCount) {
  const std::string many = std::string(100, '[');
  EXPECT_EQ(line_nesting_too_deep("name: \"" + many + "\"\n"), std::nullopt);
  EXPECT_EQ(line_nesting_too_deep("name: '" + many + "''s'\n"), std::nullopt);
  EXPECT_EQ(line_nesting_too_deep("name: a" + many + "\n"), std::nullopt);
  EXPECT_EQ(line_nesting_too_deep("name: a  # " + many + "\n"), std::nullopt);
  EXPECT_EQ(line_nesting_too_deep("text: |\n  " + many + "\n  more\nnext: 1\n"), std::nullopt);
  EXPECT_EQ(line_nesting_too_deep("text: >-\n  " + many + "\nnext: " + flow(70) + "\n"), 3);
}

}  // namespace
}  // namespace kasmina::config_detail
