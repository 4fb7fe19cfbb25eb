// read_checkpoint / verify_checkpoint.
#include <cstring>

#include "io/checkpoint.hpp"
#include "io/checkpoint_layout.hpp"
#include "io/dataset_reader.hpp"
#include "io/file_format.hpp"
#include "io/hdf5_io.hpp"

namespace kasmina::io {

namespace layout = checkpoint_layout;

namespace {

// The run's position (config name, step, epoch, samples into the epoch) from the root
// attributes, into a CheckpointState or a CheckpointHeader. UserError for a negative count.
template <class Out>
void read_position(const std::string& path, hid_t file, Out& out) {
  out.config_name = read_attribute_string(file, "config_name");
  const std::pair<const char*, int64_t*> counts[] = {
      {"step", &out.step}, {"epoch", &out.epoch}, {"epoch_position", &out.epoch_position}};
  for (const auto& [name, value] : counts) {
    *value = read_attribute_i64(file, name);
    if (*value < 0)
      throw UserError(path + ": attribute '" + name + "' is " + std::to_string(*value) +
                      " (allowed: a count >= 0)");
  }
}

// Runs `fn` for dataset `name`; any HDF5 failure is reported as a failure of that dataset.
template <class Fn>
auto for_dataset(const std::string& name, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const DatasetFailure&) {
    throw;
  } catch (const Hdf5Error& e) {
    throw DatasetFailure(name, "dataset " + name + ": " + e.what());
  }
}

HostArray read_checked_array(hid_t file, const std::string& name, bool verify) {
  return for_dataset(name, [&] {
    H5Id ds = open_dataset(file, name);
    return read_verified_array(ds, name, verify);
  });
}

std::vector<std::string> read_checked_strings(hid_t file, const std::string& name, bool verify) {
  return for_dataset(name, [&] {
    H5Id ds = open_dataset(file, name);
    return read_verified_strings(ds, name, verify);
  });
}

template <class T>
std::vector<T> as_vector(const HostArray& a, const std::string& name) {
  if (a.dtype != dtype_of<T>::value || a.shape.size() != 1)
    throw DatasetFailure(
        name, "dataset " + name + ": expected a 1-D " + dtype_name(dtype_of<T>::value) + " array");
  std::vector<T> v(static_cast<size_t>(a.shape[0]));
  if (!v.empty()) std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(T));
  return v;
}

template <class T>
void read_named_scalars(hid_t file, const std::string& group, bool verify,
                        std::map<std::string, T>& out) {
  const std::string names_path = group + "/names", values_path = group + "/values";
  const auto names = read_checked_strings(file, names_path, verify);
  std::vector<T> values;
  if constexpr (std::is_same_v<T, std::string>)
    values = read_checked_strings(file, values_path, verify);
  else
    values = as_vector<T>(read_checked_array(file, values_path, verify), values_path);
  if (values.size() != names.size())
    throw DatasetFailure(values_path, "dataset " + values_path + ": " +
                                          std::to_string(values.size()) + " values for " +
                                          std::to_string(names.size()) + " names");
  for (size_t i = 0; i < names.size(); ++i) out[names[i]] = values[i];
}

CheckpointState read_contents(const std::string& path, bool verify) {
  H5Id file = open_kasmina_file(path, kCheckpointFormat);
  CheckpointState s;
  s.config_yaml = read_attribute_string(file, "config");
  read_position(path, file, s);
  for (const std::string& name : read_checked_strings(file, layout::kTensorNames, verify)) {
    const std::string dataset = std::string(layout::kTensorsGroup) + "/" + name;
    s.tensors.push_back({name, to_tensor(read_checked_array(file, dataset, verify))});
  }
  read_named_scalars(file, layout::kIntsGroup, verify, s.ints);
  read_named_scalars(file, layout::kFloatsGroup, verify, s.floats);
  read_named_scalars(file, layout::kStringsGroup, verify, s.strings);
  read_named_scalars(file, layout::kMetricsGroup, verify, s.metrics);
  return s;
}

}  // namespace

CheckpointState read_checkpoint(const std::string& path, bool verify) {
  return translate_damage(path, [&] { return read_contents(path, verify); });
}

CheckpointHeader read_checkpoint_header(const std::string& path) {
  return translate_damage(path, [&] {
    H5Id file = open_kasmina_file(path, kCheckpointFormat);
    CheckpointHeader h;
    h.schema_version = read_attribute_i64(file, "schema_version");
    h.kasmina_version = read_attribute_string(file, "kasmina_version");
    h.created = read_attribute_string(file, "created");
    read_position(path, file, h);
    return h;
  });
}

CheckpointVerification verify_checkpoint(const std::string& path) {
  const Hdf5ReadGuard guard(path);
  CheckpointVerification v;
  try {
    try {
      read_contents(path, true);
      v.ok = true;
    } catch (const DatasetFailure& e) {
      v.failed_dataset = e.dataset();
      throw;
    }
  } catch (const Hdf5Error& e) {
    v.message = path + ": truncated or damaged: " + e.what();
  } catch (const UserError& e) {
    v.message = e.what();
  } catch (const std::bad_alloc&) {
    v.message = path + ": truncated or damaged: reading it needs more memory than a file of its " +
                "size may take";
  }
  return v;
}

}  // namespace kasmina::io
