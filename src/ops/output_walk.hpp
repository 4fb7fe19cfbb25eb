// The output positions r = (b * ho + oh) * wo + ow of a convolution visited every `step`
// positions from a start, with (b, oh, ow) kept up to date by additions: no division per step
// (the one-channel convolution kernels' row lanes, kernels/conv/conv_one_channel.cu). Host and
// device (tests/ops/cpu/test_output_walk.cpp checks it against the divisions).
#pragma once
#include "core/hd.hpp"

namespace kasmina::ops {

struct OutputWalk {
  int b, oh, ow;
  int ho, wo, step_rows, step_cols;

  KASMINA_HD OutputWalk(int r, int step, int ho_, int wo_)
      : b(r / (wo_ * ho_)),
        oh((r / wo_) % ho_),
        ow(r % wo_),
        ho(ho_),
        wo(wo_),
        step_rows(step / wo_),
        step_cols(step % wo_) {}

  // To the position `step` further on.
  KASMINA_HD void advance() {
    ow += step_cols;
    oh += step_rows;
    if (ow >= wo) {
      ow -= wo;
      ++oh;
    }
    if (oh >= ho) {
      b += oh / ho;
      oh %= ho;
    }
  }
};

}  // namespace kasmina::ops
