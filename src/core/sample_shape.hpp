// The shape of one sample as it flows from layer to layer. A batch of B samples is always a
// matrix [B * rows, width]: `rows` rows of `width` features per sample. An MLP's activations
// have one row per sample; a convolutional feature map in NHWC layout has one row per pixel
// (rows = H * W, width = C channels), so a 1x1 convolution, a linear map over the channels, a
// per-channel statistic or a kasmina layer's seeds over channel groups all see the same
// [B * H * W, C] matrix; a transformer's tokens have one row per token (rows = T, width = D).
//
// `image` says that the rows are an image's pixels (rows == h * w and width == c), or that the
// one row of the sample is an image's pixels flattened in NHWC order (rows == 1 and
// width == h * w * c: the dataset's input, which an MLP reads as a flat vector and a
// convolution as an image). Layers that need an image (convolution, pooling, patch embedding)
// require it; the others keep it valid or drop it through advance_rowwise().
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace kasmina {

struct ImageShape {
  int64_t h = 0, w = 0, c = 0;
  bool operator==(const ImageShape&) const = default;
};

struct SampleShape {
  int64_t rows = 1;
  int64_t width = 0;
  std::optional<ImageShape> image;

  SampleShape() = default;
  // One row of `width` features (an MLP's input); implicit so that a width is a shape.
  SampleShape(int64_t w) : width(w) {}  // NOLINT(google-explicit-constructor)
  SampleShape(int64_t r, int64_t w, std::optional<ImageShape> img = std::nullopt)
      : rows(r), width(w), image(img) {}
  // An image's pixels as rows (NHWC).
  static SampleShape pixels(ImageShape img) { return {img.h * img.w, img.c, img}; }
  // An image flattened to one row (the dataset's input).
  static SampleShape flat_image(ImageShape img) { return {1, img.h * img.w * img.c, img}; }

  bool operator==(const SampleShape&) const = default;
  int64_t values() const { return rows * width; }
  // The rows are an image's pixels.
  bool pixel_rows() const { return image && rows == image->h * image->w && width == image->c; }
  // The sample is one row holding an image flattened.
  bool flat_image() const { return image && rows == 1 && width == image->h * image->w * image->c; }
  // The sample's rows side by side in one row (NHWC order): a flattened image stays an image.
  SampleShape flattened() const {
    return pixel_rows() ? flat_image(*image) : SampleShape(values());
  }
  // "28x28x1 image", "49 rows of 128", "256 features": for messages.
  std::string str() const {
    if (pixel_rows() || flat_image()) {
      return std::to_string(image->h) + "x" + std::to_string(image->w) + "x" +
             std::to_string(image->c) + " image (HxWxC)";
    }
    if (rows == 1) return std::to_string(width) + " features";
    return std::to_string(rows) + " rows of " + std::to_string(width) + " features";
  }
};

// The shape after a layer that maps each row to `width` features (linear, activations,
// normalisation, dropout, kasmina): the rows stay; pixel rows stay an image of `width`
// channels; a flattened image stays one only while its width is unchanged.
inline SampleShape advance_rowwise(const SampleShape& in, int64_t width) {
  SampleShape out = in;
  out.width = width;
  if (in.pixel_rows()) {
    out.image->c = width;
  } else if (!out.pixel_rows() && !out.flat_image()) {
    out.image.reset();
  }
  return out;
}

}  // namespace kasmina
