// Tensor: shape, dtype, device and shared owning storage; contiguous row-major. Views (reshape,
// row ranges) share storage without copying.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"

namespace kasmina {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// One allocation on one device; freed through the device's backend when the last owner goes.
class Storage {
 public:
  Storage(Device dev, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }

 private:
  Device dev_;
  size_t bytes_;
  void* ptr_ = nullptr;
};

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device dev = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape,
                            Device dev = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }

  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>::value);
    return static_cast<T*>(raw());
  }

  // Same storage, new shape with the same element count.
  Tensor view(const Shape& shape) const;
  // Rows [begin, end) of the first dimension, sharing storage.
  Tensor rows(int64_t begin, int64_t end) const;
  // A flat range of elements [begin, begin+count) viewed with `shape`.
  Tensor flat_range(int64_t begin, const Shape& shape) const;

  // Deep copy to another device (synchronous when the destination is the CPU).
  Tensor to(Device dev) const;
  // Copies `src` (same dtype and element count, any device) into this tensor's memory.
  void copy_from(const Tensor& src);
  void fill_zero();
  // Host copy of the contents as T (dtype must match).
  template <class T>
  std::vector<T> to_vector() const;

  void check_dtype(DType t) const;
  void check_shape(const Shape& s, const char* what) const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  DType dtype_ = DType::f32;
};

}  // namespace kasmina
