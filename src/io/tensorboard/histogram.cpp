#include "io/tensorboard/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace kasmina::io::tb {

Histogram make_histogram(std::span<const double> values, int32_t buckets) {
  Histogram h;
  bool any = false;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    h.min = any ? std::min(h.min, v) : v;
    h.max = any ? std::max(h.max, v) : v;
    any = true;
    h.num += 1.0;
    h.sum += v;
    h.sum_squares += v * v;
  }
  if (!any) return h;
  const int32_t n = h.max > h.min ? std::max(buckets, 1) : 1;
  const double width = (h.max - h.min) / n;
  h.bucket.assign(static_cast<size_t>(n), 0.0);
  h.bucket_limit.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) h.bucket_limit[static_cast<size_t>(i)] = h.min + width * (i + 1);
  h.bucket_limit.back() = h.max;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    const double pos = width > 0.0 ? std::floor((v - h.min) / width) : 0.0;
    const auto i = static_cast<size_t>(std::clamp(pos, 0.0, static_cast<double>(n - 1)));
    h.bucket[i] += 1.0;
  }
  return h;
}

}  // namespace kasmina::io::tb
