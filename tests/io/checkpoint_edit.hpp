// Editing a checkpoint with the HDF5 C API for the hostile-checkpoint tests: values, names,
// claimed sizes and dtypes changed, with the checksums recomputed as the reader verifies them
// (a well-formed file with hostile contents).
#pragma once
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/checksum.hpp"
#include "io/hdf5_io.hpp"

namespace kasmina::io::checkpoint_edit {

inline void store_checksum(hid_t ds, const HostArray& a) {
  write_attribute_u32(ds, "checksum", crc32_update(0, a.bytes.data(), a.bytes.size()));
}

// Sets element `index` of the integer dataset `name` (int32 or int64) to `value`.
inline void set_element(hid_t file, const std::string& name, size_t index, int64_t value) {
  H5Id ds = open_dataset(file, name);
  HostArray a = read_array(ds);
  ASSERT_TRUE(a.dtype == DType::i32 || a.dtype == DType::i64) << name;
  if (a.dtype == DType::i32) {
    const auto v = static_cast<int32_t>(value);
    std::memcpy(a.bytes.data() + index * sizeof v, &v, sizeof v);
  } else {
    std::memcpy(a.bytes.data() + index * sizeof value, &value, sizeof value);
  }
  ASSERT_GE(H5Dwrite(ds, native_type_of(a.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()),
            0);
  store_checksum(ds, a);
}

// The index of the named integer `key` in /ints/names (parallel to /ints/values).
inline size_t int_index(hid_t file, const std::string& key) {
  H5Id names = open_dataset(file, "/ints/names");
  const std::vector<std::string> all = read_strings(names);
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == key) return i;
  ADD_FAILURE() << "no integer " << key;
  return all.size();
}

// Sets the named integer `key` of /ints.
inline void set_int(hid_t file, const std::string& key, int64_t value) {
  const size_t i = int_index(file, key);
  if (!::testing::Test::HasFailure()) set_element(file, "/ints/values", i, value);
}

// Renames the integer `from` of /ints to `to` (its value kept).
inline void rename_int(hid_t file, const std::string& from, const std::string& to) {
  std::vector<std::string> all;
  {
    H5Id names = open_dataset(file, "/ints/names");
    all = read_strings(names);
  }
  bool found = false;
  for (std::string& name : all)
    if (name == from) name = to, found = true;
  ASSERT_TRUE(found) << "no integer " << from;
  ASSERT_GE(H5Ldelete(file, "/ints/names", H5P_DEFAULT), 0);
  H5Id ds = write_strings(file, "/ints/names", all, false);
  write_attribute_u32(ds, "checksum", crc32_update_strings(0, all));
}

// Replaces dataset `name` by one of `dtype` whose dataspace claims `dims` (nothing is written:
// the file stores no bytes for it), checksum 0.
inline void claim(hid_t file, const std::string& name, hid_t dtype,
                  const std::vector<hsize_t>& dims) {
  ASSERT_GE(H5Ldelete(file, name.c_str(), H5P_DEFAULT), 0);
  H5Id space =
      own_space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "space");
  H5Id ds = own_dataset(
      H5Dcreate2(file, name.c_str(), dtype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  write_attribute_u32(ds, "checksum", 0);
}

// The dtype a tensor of `dtype` is rewritten as: the other width of its kind (uint8 as int32).
inline DType other_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return DType::f64;
    case DType::f64:
      return DType::f32;
    case DType::i32:
      return DType::i64;
    default:  // i64, u8
      return DType::i32;
  }
}

// Calls fn(T{}) with the C++ type of `dtype` (float, double, int32, int64, uint8).
template <class Fn>
void with_type(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32:
      return fn(float{});
    case DType::f64:
      return fn(double{});
    case DType::i32:
      return fn(int32_t{});
    case DType::i64:
      return fn(int64_t{});
    default:
      return fn(uint8_t{});
  }
}

// Rewrites the tensor dataset `name` (/tensors/...) with the same shape and values as `dtype`,
// its checksum recomputed.
inline void retype(hid_t file, const std::string& name, DType dtype) {
  HostArray a;
  {
    H5Id ds = open_dataset(file, name);
    a = read_array(ds);
  }
  std::vector<double> v;
  with_type(a.dtype, [&](auto zero) {
    using T = decltype(zero);
    v.resize(a.bytes.size() / sizeof(T));
    for (size_t i = 0; i < v.size(); ++i) {
      T x{};
      std::memcpy(&x, a.bytes.data() + i * sizeof x, sizeof x);
      v[i] = static_cast<double>(x);
    }
  });
  std::vector<char> bytes;
  with_type(dtype, [&](auto zero) {
    using T = decltype(zero);
    bytes.resize(v.size() * sizeof(T));
    for (size_t i = 0; i < v.size(); ++i) {
      const auto x = static_cast<T>(v[i]);
      std::memcpy(bytes.data() + i * sizeof x, &x, sizeof x);
    }
  });
  ASSERT_GE(H5Ldelete(file, name.c_str(), H5P_DEFAULT), 0);
  H5Id ds = write_array(file, name, dtype, a.shape, bytes.data());
  write_attribute_u32(ds, "checksum", crc32_update(0, bytes.data(), bytes.size()));
}

}  // namespace kasmina::io::checkpoint_edit
