// write_checkpoint: the file is built in memory, then written to a temporary file, fsynced and
// renamed into place (atomic_file.hpp).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "io/atomic_file.hpp"
#include "io/checkpoint.hpp"
#include "io/checkpoint_layout.hpp"
#include "io/checksum.hpp"
#include "io/file_format.hpp"
#include "io/hdf5_io.hpp"
#include "io/memory_file.hpp"

namespace kasmina::io {

namespace layout = checkpoint_layout;

const Tensor* CheckpointState::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t.tensor;
  return nullptr;
}

namespace {

void check_tensor_name(const std::string& name) {
  bool ok = !name.empty() && name.front() != '/' && name.back() != '/' &&
            name.find("//") == std::string::npos;
  for (size_t start = 0; ok && start < name.size();) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    const std::string part = name.substr(start, end - start);
    ok = part != "." && part != "..";
    start = end + 1;
  }
  KASMINA_CHECK(ok, "checkpoint tensor name '" + name +
                        "' must be non-empty '/'-separated parts without '.' or '..' parts");
}

void write_checked_array(hid_t file, const std::string& name, DType dtype, const Shape& shape,
                         const void* data, size_t bytes) {
  H5Id ds = write_array(file, name, dtype, shape, data);
  write_attribute_u32(ds, "checksum", crc32_update(0, data, bytes));
}

void write_checked_array(hid_t file, const std::string& name, const HostArray& a) {
  write_checked_array(file, name, a.dtype, a.shape, a.bytes.data(), a.bytes.size());
}

void write_checked_strings(hid_t file, const std::string& name,
                           const std::vector<std::string>& values, bool scalar) {
  H5Id ds = write_strings(file, name, values, scalar);
  write_attribute_u32(ds, "checksum", crc32_update_strings(0, values));
}

template <class T>
HostArray host_vector(const std::vector<T>& v) {
  HostArray a;
  a.dtype = dtype_of<T>::value;
  a.shape = {static_cast<int64_t>(v.size())};
  a.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(a.bytes.data(), v.data(), a.bytes.size());
  return a;
}

// <group>/names and <group>/values for one map of named scalars.
template <class T>
void write_named_scalars(hid_t file, const std::string& group, const std::map<std::string, T>& m) {
  std::vector<std::string> names;
  std::vector<T> values;
  for (const auto& [k, v] : m) {
    names.push_back(k);
    values.push_back(v);
  }
  write_checked_strings(file, group + "/names", names, false);
  if constexpr (std::is_same_v<T, std::string>)
    write_checked_strings(file, group + "/values", values, false);
  else
    write_checked_array(file, group + "/values", host_vector(values));
}

// The test hook: sleep with half of the file's bytes in its temporary file, so a test can kill
// the writer in the middle of a write.
void fault_pause() {
  const char* env = std::getenv(layout::kFaultPauseEnv);
  if (!env || !*env) return;
  std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(env)));
}

void write_contents(hid_t file, const CheckpointState& s) {
  write_root_attributes(file, kCheckpointFormat, s.config_yaml);
  write_attribute_string(file, "config_name", s.config_name);
  write_attribute_i64(file, "step", s.step);
  write_attribute_i64(file, "epoch", s.epoch);
  write_attribute_i64(file, "epoch_position", s.epoch_position);
  write_attribute_string(file, "created", utc_timestamp_now());

  std::vector<std::string> names;
  for (const auto& t : s.tensors) {
    check_tensor_name(t.name);
    names.push_back(t.name);
  }
  write_checked_strings(file, layout::kTensorNames, names, false);
  create_group(file, layout::kTensorsGroup);
  for (const NamedTensor& t : s.tensors) {
    KASMINA_CHECK(t.tensor.defined(), "checkpoint tensor '" + t.name + "' is undefined");
    // Host tensors are written from their own memory; device tensors are copied first.
    const Tensor host = t.tensor.device().is_cpu() ? t.tensor : t.tensor.to(Device::cpu());
    write_checked_array(file, std::string(layout::kTensorsGroup) + "/" + t.name, host.dtype(),
                        host.shape(), host.raw(), host.nbytes());
  }
  write_named_scalars(file, layout::kIntsGroup, s.ints);
  write_named_scalars(file, layout::kFloatsGroup, s.floats);
  write_named_scalars(file, layout::kStringsGroup, s.strings);
  write_named_scalars(file, layout::kMetricsGroup, s.metrics);
}

}  // namespace

std::vector<unsigned char> checkpoint_image(const std::string& path, const CheckpointState& state) {
  H5Id file = create_memory_file(path);
  write_contents(file, state);
  return file_image(file, path);
}

void store_checkpoint_image(const std::string& path, const std::vector<unsigned char>& image) {
  write_file_atomically(path, image.data(), image.size(), fault_pause);
}

void write_checkpoint(const std::string& path, const CheckpointState& state) {
  // Assembled in memory, then stored in one piece (memory_file.hpp, atomic_file.hpp).
  store_checkpoint_image(path, checkpoint_image(path, state));
}

}  // namespace kasmina::io
