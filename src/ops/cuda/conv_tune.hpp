// cuDNN convolution algorithms chosen by measurement (the config's top-level `autotune:`, as for
// the IR blueprints' kernels, ops/blueprint_tuning.hpp), on the first call of a shape and
// direction, which runs outside any graph capture:
//  - off (default): the performance database's winner for this convolution, GPU and driver when
//    it holds one, else cuDNN's heuristic order (conv.cpp);
//  - on_first_use: when the database holds no winner, every acceptable candidate is run once to
//    warm up and kConvTuneRepeats times between CUDA events on the op's own tensors (every call
//    overwrites its output, beta = 0, and the op's own call follows), all measurements and the
//    fastest are stored, and the fastest is used; later runs read it, so in deterministic mode
//    runs repeat bit for bit from the first one on;
//  - exhaustive: timed at every first call, over a stored winner too.
// The acceptable candidates are those of conv.cpp (deterministic ones in deterministic mode, the
// math mode's), so a measured choice changes speed, never the rules. A database that cannot be
// opened leaves the heuristic order (timing needs it to store the choice).
#pragma once
#include <cudnn.h>

#include <functional>

#include "ops/conv_geometry.hpp"
#include "ops/cuda/cudnn_context.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

inline constexpr int kConvTuneRepeats = 5;

// One call of the direction with candidate `a` and workspace `ws`; its status.
using ConvTrial = std::function<cudnnStatus_t(const ConvAlgo& a, void* ws)>;

// Puts the candidate to use first in dir.candidates (see above); `direction` names it in the
// database key ("forward", "backward-data", "backward-filter"), with the plan's data type.
void order_by_measurement(DeviceContext& ctx, const ConvGeometry& g, const char* direction,
                          const ConvPlan& plan, ConvDirection& dir, const ConvTrial& trial);

}  // namespace kasmina::ops::cuda
