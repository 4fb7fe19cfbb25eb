// Warnings about a valid configuration: choices that run but cannot do what they seem to ask
// for. Each warning is one line naming the file, line and key, printed by `kasmina train`
// (which then goes on); an error would be a UserError instead.
//
// Today: a kasmina layer that may grow affine blueprints (low_rank, diag_scale: the registry's
// `affine` flag) directly before a `linear` layer. The linear layer absorbs an affine map of its
// input exactly (W (A x + b) + c is again a linear layer of the same size), so such a seed adds
// no function the host could not already represent: it only re-parametrises the next layer.
// And a kasmina layer of ONE seed (a whole-layer seed) under the heuristic controller with the
// gradient trigger above 1: the trigger compares the seed's chunk score with its layer's mean
// chunk score, which is its own, so the ratio is always 1 and only a validation plateau can
// germinate it (on Fashion-MNIST, docs/GROWTH.md: late or never).
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kasmina {

std::vector<std::string> config_warnings(const Config& c);

}  // namespace kasmina
