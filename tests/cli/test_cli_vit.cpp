// The tiny ViT of configs/tiny_vit.yaml trained end to end on the CPU through the binary (CI's
// transformer run): on a small Fashion-MNIST-shaped directory it prints the model it built,
// trains one epoch to a finite loss and is bit-identical run to run; with a kasmina layer over
// its MLP's hidden features (every token's) a scheduled seed germinates and the run finishes.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_errors.hpp"
#include "run_process.hpp"
#include "small_data.hpp"

namespace kasmina {
namespace {

using namespace clitest;

std::string source(const std::string& rel) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/" + rel;
}

class CliVit : public CliErrors {
 protected:
  // Trains configs/tiny_vit.yaml on 100 random images in batches of 20 (5 steps) into `out`.
  ProcessResult train_tiny(const fs::path& data, const std::string& out) const {
    return testing::run_process(
        kasmina_binary(),
        {"train", source("configs/tiny_vit.yaml"), "--data-dir", data.string(), "--set",
         "train.batch_size=20", "--set", "lr_schedule.warmup_steps=2", "--out",
         (dir_.path() / out).string()},
        dir_.path(), {}, {.address_space_bytes = kMemoryLimit});
  }

  // The line of `text` that starts with `prefix` (empty when none does).
  static std::string line_starting(const std::string& text, const std::string& prefix) {
    for (size_t at = 0; at < text.size();) {
      const size_t end = text.find('\n', at);
      const std::string line = text.substr(at, end == std::string::npos ? end : end - at);
      if (line.rfind(prefix, 0) == 0) return line;
      if (end == std::string::npos) break;
      at = end + 1;
    }
    return {};
  }
};

TEST_F(CliVit, TinyVitTrainsOnTheCpuDeterministically) {
  const fs::path data = write_small_fashion_mnist(dir_.path() / "data", 100, 20);
  const ProcessResult a = train_tiny(data, "run-a");
  ASSERT_TRUE(a.exited && a.exit_code == 0) << a.out << a.err;
  // patch_embed 49·16 + 16 + 16 (class token) + 17·16 (positions), the attention block
  // (layernorm 32, qkv 16·48 + 48, proj 16·16 + 16), the MLP block (32, 16·32 + 32, 32·16 + 16),
  // the final layernorm 32 and the head 16·10 + 10.
  EXPECT_EQ(line_starting(a.out, "model: "), "model: 3514 parameters");
  EXPECT_NE(a.out.find("  patch_embed 28x28x1 / 7x7 -> 17 tokens of 16 (class token)\n"),
            std::string::npos)
      << a.out;
  EXPECT_NE(a.out.find("  class_token (16)\n"), std::string::npos) << a.out;
  const std::string done = line_starting(a.out, "done: ");
  ASSERT_FALSE(done.empty()) << a.out;
  EXPECT_EQ(done.find("nan"), std::string::npos) << done;
  EXPECT_TRUE(fs::exists(dir_.path() / "run-a" / "summary.json"));

  // The same seed gives the same test loss and accuracy.
  const ProcessResult b = train_tiny(data, "run-b");
  ASSERT_TRUE(b.exited && b.exit_code == 0) << b.out << b.err;
  const std::string done_b = line_starting(b.out, "done: ");
  const auto test_part = [](const std::string& s) { return s.substr(s.find("test loss")); };
  EXPECT_EQ(test_part(done_b), test_part(done));
}

TEST_F(CliVit, KasminaLayerInsideTheMlpGrowsASeed) {
  const fs::path data = write_small_fashion_mnist(dir_.path() / "data", 100, 20);
  // configs/tiny_vit_grow.yaml: a kasmina layer over the MLP's hidden features of every token
  // and a germination at step 2; 4 steps an epoch here.
  const ProcessResult r = train(source("configs/tiny_vit_grow.yaml"),
                                {"--data-dir", data.string(), "--set", "data.validation=20",
                                 "--set", "train.batch_size=20", "--set", "train.epochs=6"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.out << r.err;
  const std::string growth = line_starting(r.out, "growth: layer 0 (4 seeds): germinated 1,");
  EXPECT_FALSE(growth.empty()) << r.out;
  const std::string done = line_starting(r.out, "done: ");
  ASSERT_FALSE(done.empty()) << r.out;
  EXPECT_EQ(done.find("nan"), std::string::npos) << done;
  EXPECT_TRUE(fs::exists(out_dir() / "telemetry.h5"));
}

}  // namespace
}  // namespace kasmina
