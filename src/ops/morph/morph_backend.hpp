// Per-device implementations of the morph ops (CPU twins in namespace cpu, CUDA launchers in
// namespace cuda): declared, with the signatures of morph_ops.hpp, by the KASMINA_OP lines there.
#pragma once
#include "ops/morph/morph_ops.hpp"
