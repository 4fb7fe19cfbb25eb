// The word layout of an IR program (ir/program.hpp): a graph laid out for one blueprint shape,
// flattened into 32-bit words (floats as their bits) for the IR-interpreting CUDA kernels
// (kernels/morph/ir_interpret.cuh), which walk it per row. Shared by the host writer and the
// device reader; no standard-library types.
#pragma once
#include <cstdint>

namespace kasmina::ir::program {

inline constexpr int32_t kVersion = 1;

// Header words.
enum Header : int32_t {
  kHVersion,
  kHChunk,        // C
  kHNodes,        // node count
  kHScratch,      // floats of one row's values (and as many for their gradients)
  kHParams,       // packed parameter count
  kHFactors,      // gradient factors per row
  kHOutput,       // offset of the output value
  kHHidden,       // hidden factor records
  kHBlocks,       // gradient block records (one per parameter)
  kHDirect,       // parameters (the size of the per-row direct-gradient table)
  kHHiddenAt,     // word index of the first hidden record
  kHBlocksAt,     // word index of the first block record
  kHNodeTableAt,  // word index of the node table (the start word of every node, in order)
  kHeaderWords
};

// Op codes (the order of ir::Op; program.cpp checks it).
enum OpCode : int32_t {
  kLinear,
  kAdd,
  kMul,
  kSub,
  kRelu,
  kGelu,
  kSigmoid,
  kTanh,
  kSilu,
  kLayernorm,
  kRmsnorm,
  kSum,
  kMean,
  kMax,
  kScale,
  kShift,
  kConcat,
  kSlice,
};

// A node record: these words, then (offset, size) of each input.
enum NodeWord : int32_t {
  kNOp,
  kNOut,  // output offset
  kNOutSize,
  kNInputs,     // input count
  kNWeight,     // packed offset of the linear weight, or -1
  kNBias,       // packed offset of the linear bias, or -1
  kNParam,      // packed offset of the scale/shift parameter, or -1 (constant)
  kNParamSize,  // its size (1 broadcasts)
  kNConst,      // the scale/shift constant, float bits
  kNEps,        // layernorm/rmsnorm eps, float bits
  kNFrom,       // slice start
  kNDirect,     // parameter id whose per-row gradient this node adds (a [1] scale/shift), or -1
  kNodeWords
};

// A hidden factor record: kind (0 value, 1 grad, 2 direct), the factor index `at`, then for a
// value or gradient its offset and size, for a direct gradient the parameter id and 1.
inline constexpr int32_t kHiddenWords = 4;
enum HiddenKind : int32_t { kHiddenValue, kHiddenGrad, kHiddenDirect };
// A gradient block record: a0, na, b0, nb, diag (morph::GradBlock).
inline constexpr int32_t kBlockWords = 5;
// Parameters whose direct gradient a row may carry (the seam's gradient blocks).
inline constexpr int32_t kMaxDirect = 4;

}  // namespace kasmina::ir::program
