// Convolutional and transformer layers in the model config: the shapes they infer (an image's
// pixels as rows, tokens as rows), and the file:line:key messages for shapes that cannot work
// (a stride that does not divide the image, patches that do not tile it, an image layer after
// the image was pooled, a model that ends with several rows, a shortcut of another shape, data
// augmentation on a dataset without images).
#include <string>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::parse_error;
using testing::replace_line;

// Line numbers are used by the tests below.
const std::string kConvYaml =
    "name: conv\n"                                                         // 1
    "data:\n"                                                              // 2
    "  dataset: fashion_mnist\n"                                           // 3
    "model:\n"                                                             // 4
    "  layers:\n"                                                          // 5
    "    - {type: conv2d, out: 8, kernel: 3, padding: 1}\n"                // 6
    "    - {type: batchnorm2d}\n"                                          // 7
    "    - {type: relu}\n"                                                 // 8
    "    - type: residual\n"                                               // 9
    "      layers:\n"                                                      // 10
    "        - {type: conv2d, out: 16, kernel: 3, stride: 2, padding: 1}\n"  // 11
    "      shortcut:\n"                                                    // 12
    "        - {type: conv2d, out: 16, kernel: 1, stride: 2}\n"            // 13
    "    - {type: maxpool2d, kernel: 2}\n"                                 // 14
    "    - {type: global_avgpool}\n"                                       // 15
    "    - {type: linear, out: 10}\n";                                     // 16

TEST(ConfigConvNets, ParsesAConvNetWithAShortcut) {
  const Config c = parse_config(kConvYaml, "conv.yaml");
  ASSERT_EQ(c.model.layers.size(), 7u);
  EXPECT_EQ(c.model.layers[0].type, LayerType::conv2d);
  EXPECT_EQ(c.model.layers[3].as<ResidualConfig>().shortcut.size(), 1u);
  const Config back = parse_config(to_yaml(c), "resolved.yaml");
  EXPECT_EQ(testing::without_origin(back), testing::without_origin(c));
}

struct Case {
  const char* name;
  std::string yaml;
  std::string message;
};

class ConvNetMessage : public ::testing::TestWithParam<Case> {};

TEST_P(ConvNetMessage, IsExact) {
  EXPECT_EQ(parse_error(GetParam().yaml, "conv.yaml"), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    ConfigConvNets, ConvNetMessage,
    ::testing::Values(
        Case{"stride_does_not_divide", replace_line(kConvYaml, 14, "    - {type: maxpool2d, kernel: 3, stride: 3}"),
             "A"},
        Case{"kernel_larger_than_image",
             replace_line(kConvYaml, 6, "    - {type: conv2d, out: 8, kernel: 15, stride: 1}\n    - {type: conv2d, out: 8, kernel: 15}"),
             "B"},
        Case{"conv_after_pooling", replace_line(kConvYaml, 16, "    - {type: conv2d, out: 10}"),
             "C"},
        Case{"ends_with_pixels", replace_line(kConvYaml, 15, "    - {type: relu}"), "D"},
        Case{"shortcut_of_another_shape",
             replace_line(kConvYaml, 13, "        - {type: conv2d, out: 12, kernel: 1, stride: 2}"),
             "E"},
        Case{"body_changes_shape_without_shortcut",
             replace_line(replace_line(kConvYaml, 12, "#"), 13, "#"), "F"},
        Case{"pool_padding_over_half",
             replace_line(kConvYaml, 14, "    - {type: maxpool2d, kernel: 2, padding: 2}"), "G"},
        Case{"groups_do_not_divide_channels",
             replace_line(kConvYaml, 11, "        - {type: conv2d, out: 16, kernel: 3, stride: 2, padding: 1, groups: 3}"), "H"},
        Case{"patches_do_not_tile",
             replace_line(kConvYaml, 6, "    - {type: patch_embed, patch: 5, dim: 8}"), "I"},
        Case{"attention_heads_do_not_divide",
             replace_line(replace_line(kConvYaml, 6, "    - {type: patch_embed, patch: 4, dim: 8}"), 7,
                          "    - {type: attention, heads: 3}"),
             "J"},
        Case{"augment_spirals",
             replace_line(kConvYaml, 3, "  dataset: spirals\n  augment: {flip: true}"), "K"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kasmina
