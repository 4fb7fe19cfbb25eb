// CPU twin of the batch gather: row b of the batch is dataset row perm[cursor * B + b], scaled
// and shifted into float32 (x = image * scale + shift), with its label.
#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class Pixel>
void copy_scaled_row(const Pixel* src, int64_t width, float scale, float shift, float* dst) {
  for (int64_t j = 0; j < width; ++j) dst[j] = static_cast<float>(src[j]) * scale + shift;
}

}  // namespace

void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& perm,
                  const Tensor& cursor, float scale, float shift, Tensor& x, Tensor& y) {
  constexpr const char* op = "gather_batch";
  const auto [count, width] = matrix_dims(op, "images", images);
  KASMINA_CHECK(images.dtype() == DType::u8 || images.dtype() == DType::f32,
                std::string(op) + ": images are " + dtype_name(images.dtype()) +
                    ", expected uint8 or float32");
  check_tensor(op, "labels", labels, DType::i32, {count});
  check_cpu_tensor(op, "perm", perm);
  check_dtype(op, "perm", perm, DType::i32);
  KASMINA_CHECK(perm.ndim() == 1, std::string(op) + ": perm must be 1-D");
  const int64_t batch = matrix_dims(op, "x", x).first;
  check_tensor(op, "x", x, DType::f32, {batch, width});
  check_tensor(op, "y", y, DType::i32, {batch});
  const int64_t first = read_counter(op, "cursor", cursor) * batch;
  KASMINA_CHECK(first >= 0 && first + batch <= perm.numel(),
                std::string(op) + ": batch rows [" + std::to_string(first) + ", " +
                    std::to_string(first + batch) + ") run past perm of length " +
                    std::to_string(perm.numel()));
  const int32_t* order = perm.data<int32_t>() + first;
  const int32_t* label = labels.data<int32_t>();
  float* out = x.data<float>();
  int32_t* out_label = y.data<int32_t>();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t r = order[b];
    KASMINA_CHECK(r >= 0 && r < count, std::string(op) + ": perm entry " + std::to_string(r) +
                                           " outside [0, " + std::to_string(count) + ")");
    float* dst = out + b * width;
    if (images.dtype() == DType::u8) {
      copy_scaled_row(images.data<uint8_t>() + r * width, width, scale, shift, dst);
    } else {
      copy_scaled_row(images.data<float>() + r * width, width, scale, shift, dst);
    }
    out_label[b] = label[r];
  }
}

}  // namespace kasmina::ops::cpu
