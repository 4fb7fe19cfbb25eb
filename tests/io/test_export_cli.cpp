// `kasmina export --format safetensors` through the binary on a grown spirals run: the file read
// back with the C++ safetensors reader holds every host parameter and every live seed's
// blueprint parameters bit for bit as the checkpoint stores them, with the seeds' stage and
// alpha, and a model description in its metadata; bad inputs exit 2 and write nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "trained_runs_fixture.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace cli_process;  // NOLINT: the binary and the source tree

class ExportCli : public test::TrainedRunsTest<ExportCli> {
 public:
  static std::string train(const test::TempDir& dir) {
    return TrainedRunsTest::train(
        dir, {"train", source_root() + "/configs/spirals_grow.yaml", "--out", dir.file("grow")});
  }

 protected:
  static std::string run() { return file("grow"); }
};

std::string tensor_bytes(const Tensor& t) {
  return std::string(static_cast<const char*>(t.raw()), t.nbytes());
}

// The bytes of `name` in the file, checking its dtype and shape.
std::string bytes_of(const SafetensorsFile& f, const std::string& name, const std::string& dtype,
                     const Shape& shape) {
  const SafetensorsTensor* t = f.find(name);
  if (!t) {
    ADD_FAILURE() << "no tensor " << name;
    return "";
  }
  EXPECT_EQ(t->dtype, dtype) << name;
  EXPECT_EQ(t->shape, shape) << name;
  return f.bytes(*t);
}

TEST_F(ExportCli, RoundTripHoldsEveryParameterOfTheCheckpoint) {
  const std::string out = file("grow.safetensors");
  const auto [rc, log] = kasmina({"export", run(), "--format", "safetensors", out});
  ASSERT_EQ(rc, 0) << log;
  const std::string checkpoint = run() + "/checkpoints/step_930.h5";
  EXPECT_NE(log.find("exported " + checkpoint + " (step 930)"), std::string::npos) << log;
  const SafetensorsFile f = read_safetensors(out);
  const CheckpointState ck = read_checkpoint(checkpoint);
  const json summary = json::parse(slurp(run() + "/summary.json"));

  // The header is padded to 8 bytes; the metadata identify the file and describe the model.
  const auto raw = test::read_bytes(out);
  uint64_t header_length = 0;
  std::memcpy(&header_length, raw.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(f.metadata.at("format"), "kasmina-network");
  EXPECT_EQ(f.metadata.at("format_version"), "1");
  EXPECT_EQ(f.metadata.at("step"), "930");
  EXPECT_EQ(f.metadata.at("config"), ck.config_yaml);
  const json model = json::parse(f.metadata.at("model"));
  EXPECT_EQ(model["input"]["features"], 2);
  EXPECT_EQ(model["classes"], 2);
  EXPECT_EQ(model["parameters"]["host"], summary["host_parameters"]);
  EXPECT_EQ(model["parameters"]["seeds"], summary["parameters_added"]);
  ASSERT_EQ(model["layers"].size(), 7u);

  size_t expected_tensors = 0;
  for (const auto& t : ck.tensors) {  // host parameters: layers.<i>.weight / .bias
    if (t.name.rfind("layers.", 0) != 0) continue;
    EXPECT_EQ(bytes_of(f, t.name, "F32", t.tensor.shape()), tensor_bytes(t.tensor)) << t.name;
    ++expected_tensors;
  }
  EXPECT_EQ(expected_tensors, 6u);

  int live = 0, blending = 0;
  for (const auto& layer : model["layers"]) {
    if (layer["type"] != "kasmina") continue;
    const std::string name = layer["name"];
    const std::string section = "seeds/kasmina" + std::to_string(layer["layer_index"].get<int>());
    const int64_t seeds = layer["seeds"];
    for (const char* field : {"stage", "alpha", "blueprint"}) {
      const Tensor& stored = *ck.find_tensor(section + "/" + field);
      EXPECT_EQ(bytes_of(f, name + ".seeds." + field, field == std::string("alpha") ? "F32" : "I32",
                         {seeds}),
                tensor_bytes(stored))
          << name << " " << field;
      ++expected_tensors;
    }
    // Each live seed's parts, concatenated in order, are its pool slot's parameters.
    const Tensor& pool = *ck.find_tensor(section + "/pool");
    const auto slots = ck.find_tensor(section + "/slot_owner")->numel();
    const int64_t region = pool.numel() / (slots * 7);
    const auto slot = ck.find_tensor(section + "/slot")->to_vector<int32_t>();
    for (const auto& seed : layer["live_seeds"]) {
      const int s = seed["seed"];
      std::string parts;
      for (const auto& [part, tensor_name] : seed["tensors"].items()) {
        const SafetensorsTensor* t = f.find(tensor_name.get<std::string>());
        ASSERT_NE(t, nullptr) << tensor_name;
        EXPECT_EQ(tensor_name, name + ".seeds." + std::to_string(s) + "." + part);
        parts += f.bytes(*t);
        ++expected_tensors;
      }
      const auto* params = pool.data<float>() + slot[static_cast<size_t>(s)] * 7 * region;
      EXPECT_EQ(parts, std::string(reinterpret_cast<const char*>(params), parts.size())) << s;
      const int chunk = layer["chunk"];
      EXPECT_EQ(seed["columns"], json({s * chunk, s * chunk + chunk}));
      ++live;
      blending += seed["blended"].get<bool>() ? 1 : 0;
    }
  }
  // spirals_grow (heuristic controller, gradient trigger 1.0) ends with 6 live seeds, all
  // blended.
  EXPECT_EQ(live, 6);
  EXPECT_EQ(blending, 6);
  EXPECT_EQ(f.tensors.size(), expected_tensors);
  // Nothing but OUT was left in its directory (no temporary file).
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST_F(ExportCli, BadInputsExitTwoAndWriteNothing) {
  const std::string out = file("bad.safetensors");
  const std::string empty = file("empty");
  fs::create_directories(empty);
  expect_one_line_error(kasmina({"export", empty, "--format", "safetensors", out}), empty,
                        "no checkpoints in");
  expect_one_line_error(kasmina({"export", run() + "/config.yaml", "--format", "safetensors", out}),
                        run() + "/config.yaml", "not an HDF5 file");
  const std::string nowhere = file("no/such/dir/net.safetensors");
  expect_one_line_error(kasmina({"export", run(), "--format", "safetensors", nowhere}), nowhere,
                        "cannot write");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(file("no")));
  const auto onnx = kasmina({"export", run(), "--format", "onnx", out});
  EXPECT_EQ(onnx.first, 2) << onnx.second;
  EXPECT_NE(onnx.second.find("--format"), std::string::npos) << onnx.second;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace kasmina::io
