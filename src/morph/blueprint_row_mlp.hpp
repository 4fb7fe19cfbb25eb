// Built-in blueprint row_mlp: a seed that reads the WHOLE row of its layer and writes its own
// chunk: delta(x) = W2 gelu(W1 x + b1) + b2 with x the layer's H-wide row and delta C-wide
// (H -> h -> C; residual_mlp is the same map restricted to the chunk, C -> h -> C). A chunk-local
// blueprint cannot mix features across chunks; this one can, so several seeds of a layer can
// each add cross-feature capacity to their own units (the growth issue's mechanism 3).
// Parameters (packed in this order, row-major): W1[h][H] b1[h] W2[C][h] b2[C].
// Init: W1 ~ U(+-1/sqrt(H)), W2 = 0, biases 0: delta = 0 until the blueprint learns, so a grafted
// seed preserves the host's function at any alpha.
// Computed only on the GEMM path, for all seeds of the layer at once (ops/morph/morph_rows.hpp);
// the fused kernels treat its seeds as dormant. Its parameter gradient is not a sum of products
// of the chunk's row factors (W1 pairs the hidden gradient with the whole row), so grad_blocks
// gives the blocks' sizes and order only (export names them); no factor index is meaningful.
#pragma once
#include <cmath>

#include "core/gelu.hpp"
#include "morph/blueprint_layout.hpp"

namespace kasmina::morph {

// Its kind id: the first after the kinds compiled into the fused kernels.
inline constexpr int32_t kRowMlpKind = kBuiltinBlueprintCount;
inline constexpr const char* kRowMlpName = "row_mlp";

struct RowMlp {
  static constexpr bool affine = false;  // the GELU

  static KASMINA_HD int32_t param_count(const BlueprintShape& sh) {
    return sh.hidden * sh.width + sh.hidden + sh.chunk * sh.hidden + sh.chunk;
  }
  // No hidden row factors (see above): its gradient is not reduced from row factors.
  static KASMINA_HD int32_t hidden_factor_count(const BlueprintShape&) { return 0; }

  // Initial value of parameter i from its uniform draw u in [-1, 1).
  static KASMINA_HD float init(const BlueprintShape& sh, int32_t i, float u) {
    if (i < sh.hidden * sh.width) return u / sqrtf(static_cast<float>(sh.width));  // W1
    return 0.0f;                                                                   // b1 W2 b2
  }

  // Per row: W1 x, + b1, gelu, W2 a, + b2 | W2^T g, gelu', * | W1^T dpre | dW1, db1, dW2, db2.
  static BlueprintFlops flops(const BlueprintShape& sh) {
    const int64_t H = sh.width, C = sh.chunk, h = sh.hidden;
    return {2 * h * H + h * (1 + kGeluForwardFlops) + 2 * C * h + C,
            2 * C * h + h * (1 + kGeluBackwardFlops), 2 * h * H, 2 * h * H + h + 2 * C * h + C};
  }

  // The blocks' sizes (see above): W1 [h][H], b1 [h], W2 [C][h], b2 [C].
  static KASMINA_HD int32_t grad_blocks(const BlueprintShape& sh, GradBlock* blocks) {
    const int32_t h = sh.hidden, C = sh.chunk;
    blocks[0] = {0, h, 0, sh.width, false};
    blocks[1] = {0, h, 0, 1, false};
    blocks[2] = {0, C, 0, h, false};
    blocks[3] = {0, C, 0, 1, false};
    return 4;
  }
};

}  // namespace kasmina::morph
