// A direct 2-D convolution written from the definition (not the im2col path the twins take),
// the reference of the CPU conv tests: the geometry of a case and every product term of it.
#pragma once
#include <cstdint>
#include <string>

#include "core/str_cat.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::ops::conv_test {

struct Case {
  int64_t n, h, w, cin, cout, k, stride, padding, groups;
};

// x[n,ih,iw,c] with zero outside the image.
struct Direct {
  Case c;
  int64_t ho, wo;
  explicit Direct(const Case& cs)
      : c(cs),
        ho(conv_out_size(cs.h, cs.k, cs.stride, cs.padding)),
        wo(conv_out_size(cs.w, cs.k, cs.stride, cs.padding)) {}
  int64_t xi(int64_t n, int64_t h, int64_t w, int64_t ch) const {
    return ((n * c.h + h) * c.w + w) * c.cin + ch;
  }
  int64_t yi(int64_t n, int64_t h, int64_t w, int64_t o) const {
    return ((n * ho + h) * wo + w) * c.cout + o;
  }
  int64_t wi(int64_t o, int64_t i, int64_t j, int64_t ch) const {
    return ((o * c.k + i) * c.k + j) * (c.cin / c.groups) + ch;
  }
  // Calls fn(y index, x index, w index) for every product term of the convolution.
  template <class Fn>
  void terms(Fn&& fn) const {
    const int64_t cg = c.cin / c.groups, og = c.cout / c.groups;
    for (int64_t n = 0; n < c.n; ++n)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow)
          for (int64_t o = 0; o < c.cout; ++o)
            for (int64_t i = 0; i < c.k; ++i)
              for (int64_t j = 0; j < c.k; ++j) {
                const int64_t ih = oh * c.stride - c.padding + i;
                const int64_t iw = ow * c.stride - c.padding + j;
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                for (int64_t ch = 0; ch < cg; ++ch) {
                  fn(yi(n, oh, ow, o), xi(n, ih, iw, (o / og) * cg + ch), wi(o, i, j, ch));
                }
              }
  }
};

inline std::string name(const Case& c) {
  return str_cat("N", c.n, " H", c.h, " W", c.w, " Cin", c.cin, " Cout", c.cout, " k", c.k, " s",
                 c.stride, " p", c.padding, " g", c.groups);
}

}  // namespace kasmina::ops::conv_test
