// read_checkpoint / verify_checkpoint.
#include <cstring>

#include "io/checkpoint.hpp"
#include "io/checkpoint_layout.hpp"
#include "io/checksum.hpp"
#include "io/file_format.hpp"
#include "io/hdf5_io.hpp"

namespace kasmina::io {

namespace layout = checkpoint_layout;

namespace {

// A failure while reading one dataset: names it.
class DatasetFailure : public Hdf5Error {
 public:
  DatasetFailure(const std::string& dataset, const std::string& msg)
      : Hdf5Error(msg), dataset_(dataset) {}
  const std::string& dataset() const { return dataset_; }

 private:
  std::string dataset_;
};

void check_checksum(hid_t ds, const std::string& name, uint32_t computed) {
  const uint32_t stored = read_attribute_u32(ds, "checksum");
  if (stored != computed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (stored %08x, computed %08x)", stored, computed);
    throw DatasetFailure(name, "checksum mismatch in dataset " + name + buf);
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
    HostArray a = read_array(ds);
    if (verify) check_checksum(ds, name, crc32_update(0, a.bytes.data(), a.bytes.size()));
    return a;
  });
}

std::vector<std::string> read_checked_strings(hid_t file, const std::string& name, bool verify) {
  return for_dataset(name, [&] {
    H5Id ds = open_dataset(file, name);
    auto values = read_strings(ds);
    if (verify) check_checksum(ds, name, crc32_update_strings(0, values));
    return values;
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
  s.config_name = read_attribute_string(file, "config_name");
  s.step = read_attribute_i64(file, "step");
  s.epoch = read_attribute_i64(file, "epoch");
  s.epoch_position = read_attribute_i64(file, "epoch_position");
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
    h.config_name = read_attribute_string(file, "config_name");
    h.step = read_attribute_i64(file, "step");
    h.epoch = read_attribute_i64(file, "epoch");
    h.epoch_position = read_attribute_i64(file, "epoch_position");
    return h;
  });
}

CheckpointVerification verify_checkpoint(const std::string& path) {
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
  }
  return v;
}

}  // namespace kasmina::io
