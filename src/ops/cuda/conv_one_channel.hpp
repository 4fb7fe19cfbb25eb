// Direct convolutions of a one-channel image on float32 maps (kernels/conv/conv_one_channel.cu):
// the forward and the weight (and bias) gradient of an image stem, which cuDNN runs through its
// general kernels and layout transforms. src/ops/cuda/conv.cpp routes to them.
#pragma once
#include "ops/conv_geometry.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

// Whether the direct kernels take this convolution: switched on (ops::direct_stem_kernels), one
// input channel, no groups, a kernel of 1, 3 or 5, a weight that fits the forward's shared
// memory, and maps of fewer than 2^31 elements.
bool one_channel_conv(const ConvGeometry& g);

// y [N,Ho,Wo,Cout] = the convolution of x [N,H,W,1] with w [Cout,k,k,1], plus bias (or null).
void launch_conv1c_forward(DeviceContext& ctx, const ConvGeometry& g, const float* x,
                           const float* w, const float* bias, float* y);

// dw [Cout,k,k,1] and, when db is not null, db [Cout] from dy [N,Ho,Wo,Cout] and x: fixed-order
// fp32 sums (partials per chunk of output positions in ctx's scratch buffer, then
// column_reduce.cuh's finalize launch for dw and one for db), on ctx.stream.
void launch_conv1c_backward_weight(DeviceContext& ctx, const ConvGeometry& g, const float* dy,
                                   const float* x, float* dw, float* db);

}  // namespace kasmina::ops::cuda
