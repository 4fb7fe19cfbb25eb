// im2col / col2im over one NHWC image and one channel group, the lowering of the CPU
// convolution twins (conv2d.cpp) to OpenBLAS GEMMs. The column matrix of an image is
// [Ho*Wo, k*k*Cg] with its columns in (i, j, c) order, the order of a weight row
// [kh, kw, Cin/groups] (OHWI), so a group's output is col · w_gᵀ.
#pragma once
#include <cstdint>

#include "ops/conv_geometry.hpp"

namespace kasmina::ops::cpu {

// col[p, (i*k + j)*Cg + c] = x[oh*s-pad+i, ow*s-pad+j, group*Cg + c] (0 outside), p = oh*Wo + ow;
// x is one image [H,W,Cin].
template <class T>
void im2col(const ConvGeometry& g, const T* x, int64_t group, T* col) {
  const int64_t cg = g.cin_g(), kk = g.k * g.k * cg;
  for (int64_t oh = 0; oh < g.ho; ++oh) {
    for (int64_t ow = 0; ow < g.wo; ++ow) {
      T* row = col + (oh * g.wo + ow) * kk;
      for (int64_t i = 0; i < g.k; ++i) {
        const int64_t ih = oh * g.stride - g.padding + i;
        for (int64_t j = 0; j < g.k; ++j) {
          const int64_t iw = ow * g.stride - g.padding + j;
          T* dst = row + (i * g.k + j) * cg;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) {
            for (int64_t c = 0; c < cg; ++c) dst[c] = T(0);
            continue;
          }
          const T* src = x + (ih * g.w + iw) * g.cin + group * cg;
          for (int64_t c = 0; c < cg; ++c) dst[c] = src[c];
        }
      }
    }
  }
}

// The adjoint of im2col: dx[...] += col[...] for every in-range position (dx one image).
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, int64_t group, T* dx) {
  const int64_t cg = g.cin_g(), kk = g.k * g.k * cg;
  for (int64_t oh = 0; oh < g.ho; ++oh) {
    for (int64_t ow = 0; ow < g.wo; ++ow) {
      const T* row = col + (oh * g.wo + ow) * kk;
      for (int64_t i = 0; i < g.k; ++i) {
        const int64_t ih = oh * g.stride - g.padding + i;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.k; ++j) {
          const int64_t iw = ow * g.stride - g.padding + j;
          if (iw < 0 || iw >= g.w) continue;
          const T* src = row + (i * g.k + j) * cg;
          T* dst = dx + (ih * g.w + iw) * g.cin + group * cg;
          for (int64_t c = 0; c < cg; ++c) dst[c] += src[c];
        }
      }
    }
  }
}

// dst[r, c] = src[r*ld + col0 + c] for r < rows, c < cols: one group's columns of a matrix.
template <class T>
void copy_columns(const T* src, int64_t rows, int64_t ld, int64_t col0, int64_t cols, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = src[r * ld + col0 + c];
  }
}

}  // namespace kasmina::ops::cpu
