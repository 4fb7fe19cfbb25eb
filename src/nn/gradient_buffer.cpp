#include "nn/gradient_buffer.hpp"

#include "core/error.hpp"

namespace kasmina {

GradientBuffer::GradientBuffer(const std::vector<Parameter*>& params, Device dev, DType dtype) {
  const auto align = static_cast<int64_t>(kAlignmentBytes / dtype_size(dtype));
  int64_t total = 0;
  for (const Parameter* p : params) {
    KASMINA_CHECK(p->value.dtype() == dtype && p->value.device() == dev,
                  p->name + ": every parameter of the gradient buffer has its dtype and device");
    offsets_.push_back(total);
    total += (p->value.numel() + align - 1) / align * align;
  }
  flat_ = Tensor::zeros({std::max<int64_t>(total, 1)}, dtype, dev);
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    Tensor view = flat_.flat_range(offsets_[i], p.value.shape());
    if (p.grad.defined()) view.copy_from(p.grad);
    p.grad = view;
  }
}

}  // namespace kasmina
