// The YAML examples in configs/README.md are valid configs.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/layers/dropout.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/layernorm.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"

namespace kasmina {
namespace {

// The bodies of the ```yaml fenced blocks of `markdown`, in order.
std::vector<std::string> yaml_blocks(const std::string& markdown) {
  const std::string open = "```yaml\n";
  const std::string close = "```";
  std::vector<std::string> blocks;
  std::size_t at = 0;
  while ((at = markdown.find(open, at)) != std::string::npos) {
    const std::size_t begin = at + open.size();
    const std::size_t end = markdown.find(close, begin);
    if (end == std::string::npos) break;
    blocks.push_back(markdown.substr(begin, end - begin));
    at = end + close.size();
  }
  return blocks;
}

TEST(ConfigReadme, YamlExamplesParse) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "KASMINA_SOURCE_ROOT is not set (run through meson test)";
  std::ifstream in(std::string(root) + "/configs/README.md");
  ASSERT_TRUE(in.is_open());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::string> blocks = yaml_blocks(text);
  ASSERT_EQ(blocks.size(), 4u);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_NO_THROW(parse_config(blocks[i], "README example " + std::to_string(i))) << blocks[i];
  }
  const Config grow = parse_config(blocks[1], "grow.yaml");
  EXPECT_EQ(grow.model.layers[2].type, LayerType::kasmina);
  EXPECT_EQ(grow.controller.type, ControllerType::schedule);
  EXPECT_EQ(grow.schedule.size(), 2u);
  const Config residual = parse_config(blocks[2], "residual.yaml");
  ASSERT_EQ(residual.model.layers.size(), 5u);
  EXPECT_EQ(residual.model.layers[2].type, LayerType::residual);
  EXPECT_EQ(residual.model.layers[2].as<ResidualConfig>().layers.size(), 4u);
  EXPECT_EQ(residual.model.layers[3].as<ResidualConfig>().layers[0].type, LayerType::kasmina);
  // The ViT example: patch embedding, attention and MLP blocks, class-token pooling.
  const Config vit = parse_config(blocks[3], "vit.yaml");
  ASSERT_EQ(vit.model.layers.size(), 6u);
  EXPECT_EQ(vit.model.layers[0].type, LayerType::patch_embed);
  EXPECT_EQ(vit.model.layers[1].as<ResidualConfig>().layers[1].type, LayerType::attention);
  EXPECT_EQ(vit.model.layers[4].type, LayerType::class_token);
}

}  // namespace
}  // namespace kasmina
