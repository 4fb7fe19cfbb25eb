// The blueprint IR: a typed DAG over vectors of one row of the seed's chunk (C -> C), its named
// parameters with shapes and initialisers, in canonical order (canonical.hpp), so that two
// graphs with the same hash have the same parameter layout and the same node order.
//
// Values: 0 is the input (x, [C]); node k (in graph order) writes value k + 1. The output
// value is the delta added to the chunk (f(x) - x), [C].
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/dim.hpp"
#include "ir/init.hpp"
#include "ir/spec.hpp"

namespace kasmina::ir {

enum class Op : int32_t {
  linear,
  add,
  mul,
  sub,
  relu,
  gelu,
  sigmoid,
  tanh,
  silu,
  layernorm,
  rmsnorm,
  sum,
  mean,
  max,
  scale,
  shift,
  concat,
  slice,
};
inline constexpr int32_t kOpCount = 18;
const char* op_name(Op op);
bool parse_op(const std::string& name, Op* out);
std::string op_names();  // "linear, add, ..." for messages

struct Param {
  std::string name;
  std::vector<Dim> dims;  // [out, in] for a linear weight, [n] or [1] otherwise
  Init init;
  bool init_given = false;  // by its declaration or its node's `init`
};

struct Node {
  Op op = Op::add;
  std::vector<int32_t> in;                     // value ids
  int32_t weight = -1, bias = -1, param = -1;  // parameter ids
  double value = 0.0;                          // scale/shift by a constant (param == -1)
  double eps = 1e-5;                           // layernorm, rmsnorm
  Dim from, size;                              // slice
  Dim dim;                                     // the output's size
  std::string out;                             // the output's name
  Loc loc;
};

struct Graph {
  std::string name;
  std::string input;  // the input's name
  std::vector<Param> params;
  std::vector<Node> nodes;  // a topological order (the canonical one)
  int32_t output = 0;       // value id
  std::string hash;         // SHA-256 of canonical_text, hex
  std::string canonical_text;

  Dim value_dim(int32_t v) const { return v == 0 ? Dim::chunk() : nodes[v - 1].dim; }
  const std::string& value_name(int32_t v) const { return v == 0 ? input : nodes[v - 1].out; }
};

// An invalid spec: where (line, key path) and what is wrong.
class GraphError : public std::runtime_error {
 public:
  GraphError(int line, std::string key, const std::string& message)
      : std::runtime_error(message), line(line), key(std::move(key)) {}
  int line;
  std::string key;
};

// Throws GraphError at `loc`, under its key path extended by `key` (when not empty).
[[noreturn]] inline void fail(const Loc& loc, const std::string& key, const std::string& msg) {
  throw GraphError(loc.line, key.empty() ? loc.key : loc.key + "." + key, msg);
}

// Checks the spec (known ops, names, the keys each op takes, cycles, shapes, every node and
// parameter used) and returns the graph in canonical order with its hash. Throws GraphError.
Graph build(const GraphSpec& spec);

}  // namespace kasmina::ir
