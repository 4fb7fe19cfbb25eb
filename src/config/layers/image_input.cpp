#include "config/layers/image_input.hpp"

namespace kasmina::config_detail {

ImageShape require_image(const WidthWalk& walk, const YAML::Node& node, const std::string& path,
                         const ReadContext& ctx, const std::string& layer_type) {
  const SampleShape s = walk.shape();
  if (s.pixel_rows() || s.flat_image()) return *s.image;
  ctx.fail(node, path,
           "a " + layer_type + " layer reads an image (HxWxC), but " + walk.source +
               (s.rows == 1 ? "" : " (" + s.str() + ")") +
               ": put it before the layers that flatten or pool the image");
  return {};
}

ImageShape window_output(const ImageShape& in, int64_t kernel, int64_t stride, int64_t padding,
                         const YAML::Node& node, const std::string& path, const ReadContext& ctx) {
  const std::string image = std::to_string(in.h) + "x" + std::to_string(in.w);
  if (padding >= kernel) {
    ctx.fail(locate(node, "padding"), path + ".padding",
             "is " + std::to_string(padding) + " but must be smaller than the kernel (" +
                 std::to_string(kernel) + ")");
  }
  if (kernel > in.h + 2 * padding || kernel > in.w + 2 * padding) {
    ctx.fail(locate(node, "kernel"), path + ".kernel",
             "is " + std::to_string(kernel) + ", larger than the " + image +
                 " image it receives (with padding " + std::to_string(padding) + ")");
  }
  if (in.h % stride != 0 || in.w % stride != 0) {
    ctx.fail(locate(node, "stride"), path + ".stride",
             "is " + std::to_string(stride) + ", which does not divide the " + image +
                 " image it receives (a stride must divide the height and the width, so that "
                 "no pixel row or column is dropped)");
  }
  // PyTorch's output size (the window fits: checked above); the same rule as the conv ops'.
  return ImageShape{(in.h + 2 * padding - kernel) / stride + 1,
                    (in.w + 2 * padding - kernel) / stride + 1, in.c};
}

}  // namespace kasmina::config_detail
