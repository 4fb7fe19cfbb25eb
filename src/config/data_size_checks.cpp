// The validation split and the batch size against the training set: while the config is read
// (the size the config implies: Fashion-MNIST's 60000, spirals_train) and once the data is
// loaded (the size of the files actually read, which a Fashion-MNIST-shaped directory sets).
#include <optional>

#include "config/config.hpp"
#include "config/config_checks.hpp"
#include "config/enum_names.hpp"
#include "core/error.hpp"

namespace kasmina {

namespace {

constexpr const char* kValidation = "data.validation";
constexpr const char* kBatch = "train.batch_size";

// `holds`: "the spirals training set has 2000" or "DIR/train-images-idx3-ubyte.gz holds 100".
std::optional<std::string> validation_problem(const Config& c, int64_t train_samples,
                                              const std::string& holds) {
  if (c.data.validation < train_samples) return std::nullopt;
  return "must be in [0, " + std::to_string(train_samples) + ") (" + holds + " samples), got " +
         std::to_string(c.data.validation);
}

std::optional<std::string> batch_problem(const Config& c, int64_t train_samples,
                                         const std::string& holds) {
  const int64_t n_train = train_samples - c.data.validation;
  if (c.train.batch_size <= n_train) return std::nullopt;
  return "is " + std::to_string(c.train.batch_size) + ", larger than the " +
         std::to_string(n_train) + " training samples (" + holds + ", data.validation takes " +
         std::to_string(c.data.validation) + ")";
}

}  // namespace

namespace config_detail {

void check_training_set(Config& c, const YAML::Node& root, const ReadContext& ctx) {
  const YAML::Node validation = locate(root, "data", "validation");
  const YAML::Node batch = locate(root, "train", "batch_size");
  c.origins[kValidation] = ctx.where(validation, kValidation);
  c.origins[kBatch] = ctx.where(batch, kBatch);
  const int64_t n = dataset_shape(c.data).train_samples;
  const std::string set = "the " + std::string(enum_name(c.data.dataset)) + " training set has ";
  if (const auto problem = validation_problem(c, n, set + std::to_string(n)))
    ctx.fail(validation, kValidation, *problem);
  if (const auto problem = batch_problem(c, n, set + std::to_string(n)))
    ctx.fail(batch, kBatch, *problem);
}

}  // namespace config_detail

void check_data_size(const Config& c, int64_t train_samples, const std::string& source) {
  const std::string holds = source + " holds " + std::to_string(train_samples);
  auto fail = [&](const char* key, const std::string& problem) {
    const auto it = c.origins.find(key);
    const std::string where = it != c.origins.end() ? it->second : c.source_path;
    throw UserError(where + ": " + key + ": " + problem);
  };
  if (const auto problem = validation_problem(c, train_samples, holds)) fail(kValidation, *problem);
  if (const auto problem = batch_problem(c, train_samples, holds)) fail(kBatch, *problem);
}

}  // namespace kasmina
