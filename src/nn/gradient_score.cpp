#include "nn/gradient_score.hpp"

#include <cmath>

#include "ops/ops.hpp"

namespace kasmina::morph {

void GradientScore::prepare(bool enabled, int64_t width, DType dtype, Device dev) {
  enabled_ = enabled;
  fresh_ = false;
  outer_ = enabled ? Tensor::zeros({width, width}, dtype, dev) : Tensor();
}

void GradientScore::measure(const Tensor& dy, const Tensor& x) {
  ops::linear_backward_weight(dy, x, outer_, nullptr);
  fresh_ = true;
}

std::vector<double> GradientScore::take(int32_t seeds) {
  if (!fresh_) return {};
  fresh_ = false;
  const int64_t H = outer_.dim(0), C = H / seeds;
  std::vector<double> m;
  if (outer_.dtype() == DType::f64) {
    m = outer_.to_vector<double>();
  } else {
    const std::vector<float> f = outer_.to_vector<float>();
    m.assign(f.begin(), f.end());
  }
  std::vector<double> score(static_cast<size_t>(seeds), 0.0);
  for (int64_t j = 0; j < H; ++j) {
    double sq = 0.0;
    for (int64_t k = 0; k < H; ++k) sq += m[j * H + k] * m[j * H + k];
    score[static_cast<size_t>(j / C)] += std::sqrt(sq);
  }
  return score;
}

}  // namespace kasmina::morph
