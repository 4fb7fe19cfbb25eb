// The records of a TensorBoard event file, serialized with the messages of tensorboard.proto (the
// public wire format): each function returns the bytes of one Event.
#pragma once
#include <cstdint>
#include <string>

#include "io/tensorboard/histogram.hpp"

namespace kasmina::io::tb {

// The version string of the first record of every event file.
inline constexpr const char* kFileVersion = "brain.Event:2";
// The plugin that shows text summaries.
inline constexpr const char* kTextPlugin = "text";

std::string file_version_event(double wall_time);
// SessionLog START at `step`: a restart of the run, after which readers discard the records of
// steps >= `step` they read before it.
std::string session_start_event(double wall_time, int64_t step);
std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
std::string histogram_event(double wall_time, int64_t step, const std::string& tag,
                            const Histogram& h);
// A text summary (markdown) as TensorBoard's text plugin reads it: a string tensor of shape []
// with the plugin name "text".
std::string text_event(double wall_time, int64_t step, const std::string& tag,
                       const std::string& text);

}  // namespace kasmina::io::tb
