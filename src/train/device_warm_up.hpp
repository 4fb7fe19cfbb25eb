// The device made ready for a run while its data loads (`kasmina train` runs this on another
// thread beside load_data, and waits for it before the Trainer is built).
//
// WarmUp::model: a throwaway copy of the run's model, built from the config on the device in the
// run's modes (configure_device, the math mode of its precision), runs one training forward and
// backward at the training batch size and one evaluation forward at the evaluation batch size,
// on zeros. It leaves behind what a first step and a first evaluation would: cuDNN and cuBLASLt
// loaded, the convolutions' plans chosen (the same choice: the plans are per shape and mode, and
// chosen by cuDNN's fixed heuristic or the performance database), the kernels loaded, the scratch
// buffer grown. The run's own model, data, optimizer and random streams are not touched, so the
// run computes the same values with or without it.
// WarmUp::libraries: only cuDNN's libraries (ops::warm_up_convolutions).
#pragma once
#include <future>

#include "config/config.hpp"
#include "core/device.hpp"

namespace kasmina {

enum class WarmUp { none, libraries, model };

// What to warm up for `cfg` on `dev`: the model for a CUDA run of the layered step (a model with
// convolutions or attention) without kasmina layers (their seeds' kernels and state are left to
// the run), cuDNN's libraries for one with convolutions and kasmina layers, nothing otherwise
// or with KASMINA_DEVICE_WARM_UP=0.
WarmUp warm_up_kind(const Config& cfg, Device dev);

// The device settings of a run that outlive a Trainer (ops' process-wide switches): the current
// device, deterministic algorithms, the autotune mode and the compile limit. The Trainer and
// the warm-up both call it.
void configure_device(const Config& cfg, Device dev);

void warm_up_device(const Config& cfg, Device dev, WarmUp kind);

// warm_up_device(cfg, dev, warm_up_kind(cfg, dev)) on another thread, started at construction
// (`cfg` must outlive it). Destruction waits for it.
class BackgroundWarmUp {
 public:
  BackgroundWarmUp(const Config& cfg, Device dev);
  // Waits for the warm-up and returns its own seconds (0 when none ran); throws its error.
  double wait();
  WarmUp kind() const { return kind_; }
  // What it made ready: "a copy of the model's first step and evaluation", "cuDNN's libraries".
  const char* what() const;

 private:
  WarmUp kind_;
  std::future<double> done_;
};

}  // namespace kasmina
