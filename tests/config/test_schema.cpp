// The field-descriptor toolkit on its own, with a toy struct: what a future section gets for
// one line per key.
#include <ostream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "config/overrides.hpp"
#include "config/rules.hpp"
#include "config/schema.hpp"
#include "config_test_util.hpp"

namespace kasmina::config_detail {
namespace {

struct Inner {
  double scale = 1.0;
  bool operator==(const Inner&) const = default;
};

struct Toy {
  int64_t count = 1;
  std::vector<double> rates;
  std::vector<LayerType> kinds;
  bool flag = false;  // only when count > 1
  Inner inner;
  bool operator==(const Toy&) const = default;
};

const Section<Toy>& toy_table() {
  static const Section<Inner> inner({value("scale", &Inner::scale, above(0.0))});
  static const Section<Toy> table({
      value("count", &Toy::count, at_least(1)),
      value_list("rates", &Toy::rates, above(0.0)),
      value_list("kinds", &Toy::kinds),
      value("flag", &Toy::flag).only_if([](const Toy& t) { return t.count > 1; }),
      section("inner", &Toy::inner, inner),
  });
  return table;
}

Toy read_toy(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  ReadContext ctx("toy.yaml");
  YAML::Node root = YAML::Load(yaml);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  apply_overrides(root, sets, *toy_table().shape(), ctx);
  Toy toy;
  toy_table().read(toy, root, ctx, "");
  return toy;
}

std::string write_toy(const Toy& toy) {
  YAML::Emitter out;
  toy_table().write(toy, out);
  return out.c_str();
}

std::string toy_error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  return testing::user_error_message([&] { read_toy(yaml, sets); });
}

TEST(Schema, ReadsListsOfValuesAndSections) {
  const Toy toy =
      read_toy("count: 2\nrates: [0.5, 1e-3]\nkinds: [relu, gelu]\nflag: true\ninner: {scale: 3}");
  EXPECT_EQ(toy.count, 2);
  EXPECT_EQ(toy.rates, (std::vector<double>{0.5, 1e-3}));
  EXPECT_EQ(toy.kinds, (std::vector<LayerType>{LayerType::relu, LayerType::gelu}));
  EXPECT_TRUE(toy.flag);
  EXPECT_DOUBLE_EQ(toy.inner.scale, 3.0);
  EXPECT_EQ(read_toy(""), Toy{});
}

TEST(Schema, ListElementsAreCheckedOneByOne) {
  EXPECT_EQ(toy_error("rates: [0.5, -1]"), "toy.yaml:1: rates[1]: must be > 0, got -1");
  EXPECT_EQ(toy_error("kinds:\n  - relu\n  - tanh\n"),
            "toy.yaml:3: kinds[1]: 'tanh' is not allowed (allowed: linear, relu, gelu, layernorm, "
            "dropout, kasmina, residual, conv2d, batchnorm2d, maxpool2d, avgpool2d, "
            "global_avgpool, flatten, patch_embed, attention, class_token)");
  EXPECT_EQ(toy_error("rates: 0.5"), "toy.yaml:1: rates: expected a list, got '0.5'");
  EXPECT_EQ(toy_error("rates: [[1]]"), "toy.yaml:1: rates[0]: expected a number, got a list");
}

TEST(Schema, ConditionalKeys) {
  EXPECT_EQ(toy_error("flag: true"),
            "toy.yaml:1: unknown key 'flag' in 'top level' (allowed: count, rates, kinds, inner)");
  EXPECT_EQ(toy_error("count: 3\ninner: {scal: 1}"),
            "toy.yaml:2: unknown key 'scal' in 'inner' (did you mean 'scale'? allowed: scale)");
}

TEST(Schema, OverridesReachListElements) {
  EXPECT_EQ(read_toy("rates: [0.5, 1.0]", {"rates.1=0.25", "rates.2=4"}).rates,
            (std::vector<double>{0.5, 0.25, 4.0}));
  EXPECT_EQ(toy_error("rates: [0.5]", {"rates.0=0"}),
            "--set rates.0=0: rates[0]: must be > 0, got 0");
  EXPECT_EQ(toy_error("", {"rates.0.x=1"}),
            "--set rates.0.x=1: rates[0] is a single value; it "
            "has no key 'x'");
}

TEST(Schema, WritesWhatItReads) {
  Toy toy;
  toy.count = 4;
  toy.rates = {0.1, 2.5e-7};
  toy.kinds = {LayerType::dropout};
  toy.flag = true;
  toy.inner.scale = 0.3;
  const std::string yaml = write_toy(toy);
  EXPECT_NE(yaml.find("rates: [0.1, 2.5e-07]"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("kinds: [dropout]"), std::string::npos) << yaml;
  EXPECT_EQ(read_toy(yaml), toy);
  Toy quiet;  // count 1: flag does not apply and is not written
  EXPECT_EQ(write_toy(quiet).find("flag"), std::string::npos);
}

}  // namespace
}  // namespace kasmina::config_detail
