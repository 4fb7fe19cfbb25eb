// A histogram of a set of values in the shape of TensorBoard's HistogramProto: count, sum, sum of
// squares, extremes, and equal-width buckets between the smallest and largest value.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace kasmina::io::tb {

// Buckets of a histogram with distinct values (as tf.summary.histogram's default).
inline constexpr int32_t kHistogramBuckets = 30;

struct Histogram {
  double min = 0.0, max = 0.0;
  double num = 0.0;  // values counted
  double sum = 0.0, sum_squares = 0.0;
  // Bucket i counts the values in [bucket_limit[i-1], bucket_limit[i]) (from min for i = 0; the
  // last bucket also holds max, its limit).
  std::vector<double> bucket_limit;
  std::vector<double> bucket;
};

// The histogram of the finite values among `values` (NaN and infinities are left out): one bucket
// when they are all equal, `buckets` otherwise; no bucket when none is finite.
Histogram make_histogram(std::span<const double> values, int32_t buckets = kHistogramBuckets);

}  // namespace kasmina::io::tb
