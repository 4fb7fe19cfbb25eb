// Multi-head self-attention with one thread per row (query or key), SPLIT threads sharing a row
// over the other side's rows (attention_rows.cu). Layout and math: src/ops/transformer_ops.hpp.
// The launchers of attention.cu call these: the forward for every shape, the backward when the
// whole head (Q, K, V, dO, P and dS) fits one block's shared memory, the two-kernel backward of
// attention.cu otherwise.
#pragma once
#include <cuda_runtime.h>

#include "core/bf16.hpp"
#include "core/tensor.hpp"
#include "ops/transformer/transformer_checks.hpp"

namespace kasmina::ops::cuda::attention_rows {

// out [B,T,D] and lse [B,heads,T] from qkv [B,T,3D]; one block per (batch, head). qkv and out
// float32, or bf16 (lse float32 either way).
void forward(const AttentionDims& a, const float* qkv, float* out, float* lse, Device dev,
             cudaStream_t stream);
void forward(const AttentionDims& a, const bf16* qkv, bf16* out, float* lse, Device dev,
             cudaStream_t stream);

// Whether the one-kernel backward's shared memory fits a block of `dev`.
bool backward_fits(const AttentionDims& a, Device dev);

// dqkv [B,T,3D] (every element written) from dout, qkv and lse; one block per (batch, head).
void backward(const AttentionDims& a, const float* dout, const float* qkv, const float* lse,
              float* dqkv, Device dev, cudaStream_t stream);
void backward(const AttentionDims& a, const bf16* dout, const bf16* qkv, const float* lse,
              bf16* dqkv, Device dev, cudaStream_t stream);

}  // namespace kasmina::ops::cuda::attention_rows
