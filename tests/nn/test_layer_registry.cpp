// The two halves of the layer registry agree: every layer type with a config schema
// (config/layer_schemas.cpp) has a builder (nn/layer_registry.cpp) under the same name, and the
// other way round; a model built through the registry never needs a switch over types.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/layer_schemas.hpp"
#include "nn/layer_registry.hpp"

using namespace kasmina;

TEST(LayerRegistry, EveryConfigSchemaHasABuilderAndBack) {
  const auto& schemas = config_detail::layer_schemas();
  const std::vector<std::string> builders = layer_builder_names();
  EXPECT_EQ(schemas.size(), builders.size());
  for (const config_detail::LayerSchema& schema : schemas) {
    const std::string name = to_string(schema.type);
    EXPECT_NE(find_layer_builder(name), nullptr) << name;
  }
  for (const std::string& name : builders) {
    const bool has_schema = std::any_of(schemas.begin(), schemas.end(),
                                        [&](const auto& s) { return name == to_string(s.type); });
    EXPECT_TRUE(has_schema) << name;
  }
  EXPECT_EQ(find_layer_builder("conv9d"), nullptr);
}
