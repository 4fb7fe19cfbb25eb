#include "io/tensorboard/events.hpp"

#include "core/error.hpp"
#include "tensorboard.pb.h"

namespace kasmina::io::tb {

namespace pb = kasmina::tensorboard;

namespace {

pb::Event make_event(double wall_time, int64_t step) {
  pb::Event e;
  e.set_wall_time(wall_time);
  e.set_step(step);
  return e;
}

pb::Summary::Value* add_value(pb::Event& e, const std::string& tag) {
  pb::Summary::Value* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  return v;
}

std::string serialized(const pb::Event& e) {
  std::string out;
  KASMINA_CHECK(e.SerializeToString(&out), "TensorBoard event: serialization failed");
  return out;
}

}  // namespace

std::string file_version_event(double wall_time) {
  pb::Event e = make_event(wall_time, 0);
  e.set_file_version(kFileVersion);
  return serialized(e);
}

std::string session_start_event(double wall_time, int64_t step) {
  pb::Event e = make_event(wall_time, step);
  e.mutable_session_log()->set_status(pb::SessionLog::START);
  return serialized(e);
}

std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  pb::Event e = make_event(wall_time, step);
  add_value(e, tag)->set_simple_value(value);
  return serialized(e);
}

std::string histogram_event(double wall_time, int64_t step, const std::string& tag,
                            const Histogram& h) {
  pb::Event e = make_event(wall_time, step);
  pb::HistogramProto* p = add_value(e, tag)->mutable_histo();
  p->set_min(h.min);
  p->set_max(h.max);
  p->set_num(h.num);
  p->set_sum(h.sum);
  p->set_sum_squares(h.sum_squares);
  for (const double l : h.bucket_limit) p->add_bucket_limit(l);
  for (const double c : h.bucket) p->add_bucket(c);
  return serialized(e);
}

std::string text_event(double wall_time, int64_t step, const std::string& tag,
                       const std::string& text) {
  pb::Event e = make_event(wall_time, step);
  pb::Summary::Value* v = add_value(e, tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name(kTextPlugin);
  pb::TensorProto* t = v->mutable_tensor();
  t->set_dtype(pb::DT_STRING);
  t->mutable_tensor_shape();  // shape []: a present, empty shape
  t->add_string_val(text);
  return serialized(e);
}

}  // namespace kasmina::io::tb
