// Two interleaved Archimedean spirals in the plane: a small problem that a linear model cannot
// solve but a narrow MLP can, so growth has something to do.
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/loaders.hpp"
#include "data/splits.hpp"

namespace kasmina {

// Sample i belongs to class i % 2 (balanced). Its position t ~ U[0, 1) along the arm sets the
// radius r = t and the angle 2 pi turns t, the second arm rotated by pi; Gaussian noise of
// standard deviation `noise` is added to both coordinates.
Dataset make_spirals(int64_t n, double noise, double turns, uint64_t seed,
                     const std::string& name) {
  KASMINA_CHECK(n >= 0, "make_spirals: negative sample count " + std::to_string(n));
  KASMINA_CHECK(noise >= 0.0 && turns > 0.0, "make_spirals: needs noise >= 0 and turns > 0");
  Rng rng(seed);
  std::vector<float> points(static_cast<size_t>(2 * n));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(i % 2);
    const double t = rng.uniform();
    const double angle = 2.0 * M_PI * turns * t + M_PI * label;
    const double x = t * std::cos(angle) + noise * rng.normal();
    const double y = t * std::sin(angle) + noise * rng.normal();
    points[static_cast<size_t>(2 * i)] = static_cast<float>(x);
    points[static_cast<size_t>(2 * i + 1)] = static_cast<float>(y);
    labels[static_cast<size_t>(i)] = label;
  }
  Dataset d;
  d.name = name;
  d.num_classes = 2;
  d.images = Tensor::from_vector(points, {n, 2});
  d.labels = Tensor::from_vector(labels, {n});
  d.scale = 1.0f;
  d.shift = 0.0f;
  return d;
}

namespace data {

namespace {

std::string compact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

DataSplits load_spirals(const DataConfig& cfg, uint64_t seed) {
  if (cfg.spirals_train < 2)
    throw UserError("data.spirals_train: " + std::to_string(cfg.spirals_train) +
                    " (allowed: at least 2, one point per class)");
  if (cfg.spirals_test < 1)
    throw UserError("data.spirals_test: " + std::to_string(cfg.spirals_test) +
                    " (allowed: at least 1)");
  if (!(cfg.spirals_noise >= 0.0) || !std::isfinite(cfg.spirals_noise))
    throw UserError("data.spirals_noise: " + compact(cfg.spirals_noise) +
                    " (allowed: a finite value >= 0)");
  if (!(cfg.spirals_turns > 0.0) || !std::isfinite(cfg.spirals_turns))
    throw UserError("data.spirals_turns: " + compact(cfg.spirals_turns) +
                    " (allowed: a finite value > 0)");

  DataSplits s;
  s.train = make_spirals(cfg.spirals_train, cfg.spirals_noise, cfg.spirals_turns,
                         derive_seed(seed, "data.spirals.train"), "train");
  s.test = make_spirals(cfg.spirals_test, cfg.spirals_noise, cfg.spirals_turns,
                        derive_seed(seed, "data.spirals.test"), "test");
  s.validation = carve_validation(s.train, cfg.validation, seed, "spirals");
  s.description = "spirals: " + std::to_string(s.train.size()) + " train, " +
                  std::to_string(s.validation.size()) + " validation, " +
                  std::to_string(s.test.size()) + " test, 2 features, 2 classes; " +
                  compact(cfg.spirals_turns) + " turns, noise " + compact(cfg.spirals_noise);
  return s;
}

}  // namespace data

}  // namespace kasmina
