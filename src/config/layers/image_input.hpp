// Shape checks shared by the layers that read an image (conv2d, the poolings, patch_embed):
// what they receive must be an image, as pixel rows or as the dataset's flattened image
// (core/sample_shape.hpp), and a sliding window must fit and tile it.
#pragma once
#include <string>

#include "config/layer_schemas.hpp"

namespace kasmina::config_detail {

// The image the layer at `path` receives; fails naming what it receives instead.
ImageShape require_image(const WidthWalk& walk, const YAML::Node& node, const std::string& path,
                         const ReadContext& ctx, const std::string& layer_type);

// The output image of a window (kernel, stride, padding) sliding over `in` (channels kept):
// fails at `path` when the window is larger than the padded image, when the stride does not
// divide the image's height and width, or when the padding is not smaller than the kernel.
ImageShape window_output(const ImageShape& in, int64_t kernel, int64_t stride, int64_t padding,
                         const YAML::Node& node, const std::string& path, const ReadContext& ctx);

}  // namespace kasmina::config_detail
