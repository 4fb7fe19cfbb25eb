// `kasmina blueprint compile --repeat N` (blueprint_timing.cpp).
#pragma once

#include <string>

#include "ir/graph.hpp"
#include "morph/morph_config.hpp"
#include "ops/blueprint_compiler.hpp"

namespace kasmina::cli {

// N lookups of a compiled blueprint from the compiler's memory, then N through a new compiler
// over the same directory each (the disk entry read and its SHA-256 verified), and the NVRTC
// calls those made; with a CUDA device, each disk lookup also with the module loaded as a layer
// loads it (after one load that starts the device), N loads kept loaded (as a training process
// keeps its modules), and the disk hit in its parts (source, key, read and verify, load). The
// lines to print: median, p99 and max of each.
std::string timed_lookups(ops::BlueprintCompiler& compiler, const ir::Graph& g,
                          const morph::BlueprintShape& sh, const std::string& arch,
                          const std::string& dir, int n);

}  // namespace kasmina::cli
