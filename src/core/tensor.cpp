#include "core/tensor.hpp"

#include <sstream>

#include "core/bf16.hpp"
#include "core/enum_table.hpp"

namespace kasmina {

constexpr EnumTable<DType, 6> kDTypeNames{{
    {"float32", DType::f32},
    {"float64", DType::f64},
    {"int32", DType::i32},
    {"int64", DType::i64},
    {"uint8", DType::u8},
    {"bfloat16", DType::bf16},
}};

const char* dtype_name(DType t) {
  return enum_name(kDTypeNames, t);
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Storage::Storage(Device dev, size_t bytes) : dev_(dev), bytes_(bytes) {
  ptr_ = backend(dev.type).allocate(dev, bytes);
}

Storage::~Storage() {
  if (ptr_) backend(dev_.type).deallocate(dev_, ptr_, bytes_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device dev) {
  for (int64_t d : shape) KASMINA_CHECK(d >= 0, "negative dimension in " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(dev, t.nbytes());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device dev) {
  Tensor t = empty(shape, dtype, dev);
  t.fill_zero();
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& v, const Shape& shape, Device dev) {
  KASMINA_CHECK(
      static_cast<int64_t>(v.size()) == shape_numel(shape),
      "from_vector: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value, dev);
  backend(dev.type).copy(t.raw(), dev, v.data(), Device::cpu(), t.nbytes());
  return t;
}

int64_t Tensor::dim(int i) const {
  if (i < 0) i += ndim();
  KASMINA_CHECK(i >= 0 && i < ndim(), "dim index out of range for shape " + shape_str(shape_));
  return shape_[static_cast<size_t>(i)];
}

Tensor Tensor::view(const Shape& shape) const {
  KASMINA_CHECK(shape_numel(shape) == numel(),
                "view " + shape_str(shape) + " of tensor " + shape_str(shape_));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  KASMINA_CHECK(
      ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
      "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + shape_str(shape_));
  const int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += static_cast<size_t>(begin * row) * dtype_size(dtype_);
  return t;
}

Tensor Tensor::flat_range(int64_t begin, const Shape& shape) const {
  KASMINA_CHECK(begin >= 0 && begin + shape_numel(shape) <= numel(),
                "flat_range out of bounds of " + shape_str(shape_));
  Tensor t = *this;
  t.shape_ = shape;
  t.offset_ += static_cast<size_t>(begin) * dtype_size(dtype_);
  return t;
}

Tensor Tensor::to(Device dev) const {
  Tensor t = empty(shape_, dtype_, dev);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  KASMINA_CHECK(src.dtype_ == dtype_ && src.numel() == numel(),
                "copy_from: " + std::string(dtype_name(src.dtype_)) + shape_str(src.shape_) +
                    " into " + dtype_name(dtype_) + shape_str(shape_));
  const Device d = device(), s = src.device();
  DeviceBackend& b = backend(d.is_cuda() ? d.type : s.type);
  b.copy(raw(), d, src.raw(), s, nbytes());
}

void Tensor::fill_zero() {
  backend(device().type).fill_bytes(raw(), device(), 0, nbytes());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>::value);
  std::vector<T> v(static_cast<size_t>(numel()));
  const Device d = device();
  backend(d.type).copy(v.data(), Device::cpu(), raw(), d, nbytes());
  return v;
}

void Tensor::check_dtype(DType t) const {
  KASMINA_CHECK(t == dtype_,
                std::string("tensor is ") + dtype_name(dtype_) + ", expected " + dtype_name(t));
}

void Tensor::check_shape(const Shape& s, const char* what) const {
  KASMINA_CHECK(s == shape_, std::string(what) + ": expected shape " + shape_str(s) + ", got " +
                                 shape_str(shape_));
}

#define KASMINA_TENSOR_INSTANTIATE(T)                                                  \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device); \
  template std::vector<T> Tensor::to_vector<T>() const;
KASMINA_TENSOR_INSTANTIATE(float)
KASMINA_TENSOR_INSTANTIATE(double)
KASMINA_TENSOR_INSTANTIATE(int32_t)
KASMINA_TENSOR_INSTANTIATE(int64_t)
KASMINA_TENSOR_INSTANTIATE(uint8_t)
KASMINA_TENSOR_INSTANTIATE(bf16)

}  // namespace kasmina
