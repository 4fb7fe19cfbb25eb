// What `kasmina eval` reports: the evaluation of a checkpoint on one split (loss, accuracy,
// per-class accuracy and the confusion matrix), as JSON (its --json output, fields in
// docs/FORMATS.md) and as text.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/train_report.hpp"

namespace kasmina::io {

struct EvalReportInput {
  std::string checkpoint;  // the checkpoint file evaluated
  std::string config_name;
  int64_t step = 0, epoch = 0;
  std::string split;   // "test" or "validation"
  std::string device;  // "cpu", "cuda:0"
  std::string data;    // the dataset's one-line description
  EvalResult result;
  ConfusionMatrix confusion;
  std::vector<std::string> class_names;  // by label (may be shorter: labels stand in)
};

nlohmann::ordered_json eval_report_json(const EvalReportInput& in);

std::string format_eval_report(const nlohmann::ordered_json& report);

}  // namespace kasmina::io
