// Shape checks of the conv op family (conv_geometry.hpp).
#include "ops/conv_geometry.hpp"

#include <string>

#include "core/error.hpp"

namespace kasmina::ops {

namespace {

void require(bool ok, const char* op, const std::string& what) {
  KASMINA_CHECK(ok, std::string(op) + ": " + what);
}

}  // namespace

ConvGeometry conv_geometry(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  require(x.size() == 4, op, "x must be [N,H,W,Cin], got " + shape_str(x));
  require(w.size() == 4, op, "w must be [Cout,kh,kw,Cin/groups], got " + shape_str(w));
  require(p.stride >= 1 && p.padding >= 0 && p.groups >= 1, op,
          "stride >= 1, padding >= 0 and groups >= 1 required (stride " + std::to_string(p.stride) +
              ", padding " + std::to_string(p.padding) + ", groups " + std::to_string(p.groups) +
              ")");
  ConvGeometry g;
  g.n = x[0];
  g.h = x[1];
  g.w = x[2];
  g.cin = x[3];
  g.cout = w[0];
  g.k = w[1];
  g.stride = p.stride;
  g.padding = p.padding;
  g.groups = p.groups;
  require(w[1] == w[2] && g.k >= 1, op, "the kernel must be square, got w " + shape_str(w));
  require(g.cin % p.groups == 0 && g.cout % p.groups == 0 && g.cout >= 1, op,
          "Cin " + std::to_string(g.cin) + " and Cout " + std::to_string(g.cout) +
              " must be positive multiples of groups " + std::to_string(p.groups));
  require(w[3] == g.cin / p.groups, op,
          "w " + shape_str(w) + " does not match x " + shape_str(x) + " with groups " +
              std::to_string(p.groups));
  g.ho = conv_out_size(g.h, g.k, g.stride, g.padding);
  g.wo = conv_out_size(g.w, g.k, g.stride, g.padding);
  require(g.ho >= 1 && g.wo >= 1, op,
          "kernel " + std::to_string(g.k) + " does not fit x " + shape_str(x) + " with padding " +
              std::to_string(g.padding));
  return g;
}

PoolGeometry pool_geometry(const char* op, const Shape& x, const Pool2dParams& p) {
  require(x.size() == 4, op, "x must be [N,H,W,C], got " + shape_str(x));
  require(p.kernel >= 1 && p.stride >= 1 && p.padding >= 0 && 2 * p.padding <= p.kernel, op,
          "kernel >= 1, stride >= 1 and 0 <= padding <= kernel/2 required (kernel " +
              std::to_string(p.kernel) + ", stride " + std::to_string(p.stride) + ", padding " +
              std::to_string(p.padding) + ")");
  PoolGeometry g;
  g.n = x[0];
  g.h = x[1];
  g.w = x[2];
  g.c = x[3];
  g.k = p.kernel;
  g.stride = p.stride;
  g.padding = p.padding;
  g.ho = conv_out_size(g.h, g.k, g.stride, g.padding);
  g.wo = conv_out_size(g.w, g.k, g.stride, g.padding);
  require(g.ho >= 1 && g.wo >= 1, op,
          "window " + std::to_string(g.k) + " does not fit x " + shape_str(x));
  return g;
}

BatchNormDims batchnorm_dims(const char* op, const Shape& x, bool training) {
  require(x.size() == 2, op,
          "x must be [R,C] (an NHWC map viewed as [N*H*W,C]), got " + shape_str(x));
  require(x[1] >= 1 && x[0] >= (training ? 2 : 1), op,
          std::string("x ") + shape_str(x) +
              (training ? ": training needs at least 2 rows and 1 channel"
                        : ": at least 1 row and 1 channel"));
  return {x[0], x[1]};
}

SeqDims global_avgpool_dims(const char* op, const Shape& x) {
  require(x.size() == 3 && x[1] >= 1, op, "x must be [N,S,C] with S >= 1, got " + shape_str(x));
  return {x[0], x[1], x[2]};
}

}  // namespace kasmina::ops
