// The CPU interpreter of an IR graph (the CPU twin of a generated kernel), in float or double:
// the row functions of a registered IR blueprint (blueprint_registry.hpp).
#pragma once
#include "ir/graph.hpp"
#include "ir/plan.hpp"

namespace kasmina::ir {

// Every value of one row into vals[plan.scratch] (vals[offset[v]..] holds value v).
template <class T>
void forward_values(const Graph& g, const Plan& plan, const T* p, const T* x, T* vals);

// delta[c] = output value, c < C.
template <class T>
void row_delta(const Graph& g, const Plan& plan, const T* p, const T* x, T* delta);

// With g = dL/d delta: dx += J_x^T g (dx not null) and the row's gradient factors into F
// (not null; plan.factor_count values). The parameter gradient is then
// morph::add_grad_of(plan.blocks, F).
template <class T>
void row_backward(const Graph& g, const Plan& plan, const T* p, const T* x, const T* gy, T* dx,
                  T* F);

}  // namespace kasmina::ir
