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
    "name: conv\n"                                                           // 1
    "data:\n"                                                                // 2
    "  dataset: fashion_mnist\n"                                             // 3
    "model:\n"                                                               // 4
    "  layers:\n"                                                            // 5
    "    - {type: conv2d, out: 8, kernel: 3, padding: 1}\n"                  // 6
    "    - {type: batchnorm2d}\n"                                            // 7
    "    - {type: relu}\n"                                                   // 8
    "    - type: residual\n"                                                 // 9
    "      layers:\n"                                                        // 10
    "        - {type: conv2d, out: 16, kernel: 3, stride: 2, padding: 1}\n"  // 11
    "      shortcut:\n"                                                      // 12
    "        - {type: conv2d, out: 16, kernel: 1, stride: 2}\n"              // 13
    "    - {type: maxpool2d, kernel: 2}\n"                                   // 14
    "    - {type: global_avgpool}\n"                                         // 15
    "    - {type: linear, out: 10}\n";                                       // 16

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
        Case{"stride_does_not_divide",
             replace_line(kConvYaml, 14, "    - {type: maxpool2d, kernel: 3, stride: 3}"),
             "conv.yaml:14: model.layers[4].stride: is 3, which does not divide the 14x14 image it "
             "receives (a stride must divide the height and the width, so that no pixel row or "
             "column is dropped)"},
        Case{"kernel_larger_than_image",
             replace_line(kConvYaml, 6,
                          "    - {type: conv2d, out: 8, kernel: 15, stride: 1}\n    - {type: "
                          "conv2d, out: 8, kernel: 15}"),
             "conv.yaml:7: model.layers[1].kernel: is 15, larger than the 14x14 image it receives "
             "(with "
             "padding 0)"},
        Case{"conv_after_pooling", replace_line(kConvYaml, 16, "    - {type: conv2d, out: 10}"),
             "conv.yaml:16: model.layers[6]: a conv2d layer reads an image (HxWxC), but the "
             "previous "
             "layer produces 16: put it before the layers that flatten or pool the image"},
        Case{"ends_with_pixels", replace_line(kConvYaml, 15, "    - {type: relu}"),
             "conv.yaml:16: model.layers[6]: the model ends with 7x7x10 image (HxWxC) per sample; "
             "it "
             "must end with one row of class scores: pool the rows first (global_avgpool, "
             "class_token or flatten) and end with a linear layer"},
        Case{"shortcut_of_another_shape",
             replace_line(kConvYaml, 13, "        - {type: conv2d, out: 12, kernel: 1, stride: 2}"),
             "conv.yaml:11: model.layers[3].layers[0]: produces 14x14x16 image (HxWxC) but its "
             "shortcut "
             "produces 14x14x12 image (HxWxC): the block adds the two, so they must match"},
        Case{"body_changes_shape_without_shortcut",
             replace_line(replace_line(kConvYaml, 12, "#"), 13, "#"),
             "conv.yaml:11: model.layers[3].layers[0]: produces 14x14x16 image (HxWxC) but the "
             "residual "
             "block model.layers[3] receives 28x28x8 image (HxWxC): its layers must return to that "
             "shape (the block adds its input to their output, or needs a 'shortcut' that produces "
             "their shape)"},
        Case{"pool_padding_over_half",
             replace_line(kConvYaml, 14, "    - {type: maxpool2d, kernel: 2, padding: 2}"),
             "conv.yaml:14: model.layers[4].padding: is 2 but a pooling's padding must be at most "
             "half "
             "its kernel (2)"},
        Case{
            "groups_do_not_divide_channels",
            replace_line(
                kConvYaml, 11,
                "        - {type: conv2d, out: 16, kernel: 3, stride: 2, padding: 1, groups: 3}"),
            "conv.yaml:11: model.layers[3].layers[0].groups: is 3, which does not divide out (16)"},
        Case{"patches_do_not_tile",
             replace_line(kConvYaml, 6, "    - {type: patch_embed, patch: 5, dim: 8}"),
             "conv.yaml:6: model.layers[0].patch: is 5, but patches of 5x5 do not tile the 28x28 "
             "image "
             "it receives"},
        Case{"attention_heads_do_not_divide",
             replace_line(replace_line(kConvYaml, 6, "    - {type: patch_embed, patch: 4, dim: 8}"),
                          7, "    - {type: attention, heads: 3}"),
             "conv.yaml:7: model.layers[1].heads: is 3, but the previous layer produces 50 rows of "
             "8 "
             "features: the width must divide into heads of at most 64 features"},
        Case{"augment_spirals",
             replace_line(kConvYaml, 3, "  dataset: spirals\n  augment: {flip: true}"),
             "conv.yaml:4: data.augment: crops and flips images, but the spirals samples are not "
             "images "
             "(allowed: augment with fashion_mnist, or remove it)"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kasmina
