// `kasmina blueprint`: check FILE (the IR blueprints of a YAML file: shapes, parameter count,
// canonical hash; exit 2 on errors), compile FILE|CONFIG (NVRTC into the kernel cache; with
// --repeat N also the lookup times from memory and from disk: blueprint_timing.cpp),
// tune CONFIG (blueprint_tune.cpp) and cache stats|verify|clear (the kernel cache on disk).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/blueprint_config.hpp"
#include "cli/blueprint_timing.hpp"
#include "cli/commands.hpp"
#include "cli/kernel_events.hpp"
#include "cli/print.hpp"
#include "config/blueprints.hpp"
#include "core/error.hpp"
#include "core/str_cat.hpp"
#include "io/atomic_file.hpp"
#include "ir/describe.hpp"
#include "ir/kernel_cache.hpp"
#include "morph/morph_limits.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/morph/blueprint_module.hpp"
#include "ops/seed_templates.hpp"

namespace kasmina::cli {

namespace {

struct CheckOptions {
  std::string file;
  int chunk = 16;
  int hidden = morph::kDefaultHidden;
  int rank = morph::kDefaultRank;
  std::string arch;                                 // compile (empty: the GPU's, else sm_90)
  std::string cache_dir = ir::default_cache_dir();  // compile
  int repeat = 0;          // compile: lookups timed after the first (memory, then disk)
  std::string source_dir;  // compile: also write each generated source there (debugging)
  std::string telemetry;   // compile: the kernel events as a telemetry file
};

// The shape options of check and compile.
void add_shape_options(CLI::App* cmd, CheckOptions& o) {
  cmd->add_option("FILE", o.file, "a config or a file with a blueprints: mapping")->required();
  cmd->add_option("--chunk", o.chunk, "C, the seed's chunk width, for the sizes (default 16)")
      ->check(CLI::Range(1, morph::kMaxChunk));
  cmd->add_option("--hidden", o.hidden, "h, the layer's hidden width")
      ->check(CLI::Range(1, morph::kMaxHidden));
  cmd->add_option("--rank", o.rank, "r, the layer's rank")->check(CLI::Range(1, morph::kMaxHidden));
}

void check(const CheckOptions& o) {
  const std::vector<ir::Graph> graphs = load_blueprint_file(o.file);
  const morph::BlueprintShape sh{o.chunk, o.hidden, o.rank};
  std::string out;
  for (const ir::Graph& g : graphs) out += ir::describe(g, sh);
  out += std::to_string(graphs.size()) + " blueprint(s) valid\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

ir::CacheOptions cache_options(const std::string& dir) {
  ir::CacheOptions o;
  o.dir = dir;
  return o;
}

void cache_stats(const std::string& dir) {
  const ir::CacheStats s = ir::KernelCache(cache_options(dir)).stats();
  print("kernel cache " + dir + "\n  entries      " + std::to_string(s.entries) + " (" +
        std::to_string(s.negative) + " failed compiles)\n  size         " +
        std::to_string(s.bytes) + " bytes\n  quarantined  " + std::to_string(s.quarantined) +
        "\n  unfinished   " + std::to_string(s.temporary) +
        " temporary file(s)\nseed-kernel templates built into this binary (linked modules): " +
        ops::builtin_seed_templates_summary() + "\n");
}

// Exit 0 when every entry is valid; the bad ones are quarantined and listed (exit 2).
int cache_verify(const std::string& dir) {
  const ir::VerifyReport r = ir::KernelCache(cache_options(dir)).verify();
  std::string out;
  for (const std::string& q : r.quarantined) out += "quarantined " + q + "\n";
  out += std::to_string(r.good) + " of " + std::to_string(r.checked) + " entries valid\n";
  print(out);
  return r.quarantined.empty() ? 0 : 2;
}

// --source DIR: the CUDA source the compiler compiles for (g, sh), as DIR/LABEL.cu (LABEL's
// characters outside [A-Za-z0-9_.-] as '_'), to time or inspect it with nvcc.
// Linked: DIR/LABEL.cu holds the row functions and DIR/seed_kernels_C<chunk>.cu the seed kernels
// they are linked to. Tiered: DIR/LABEL.cu the fused module, DIR/LABEL_rows.cu and
// DIR/seed_kernels_C<chunk>.cu the linked one.
void write_source(const ops::BlueprintCompiler& compiler, const ir::Graph& g,
                  const morph::BlueprintShape& sh, const std::string& label,
                  const std::string& dir) {
  std::string name = label;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  const ops::CodegenMode mode = compiler.codegen_mode();
  try {
    if (mode != ops::CodegenMode::linked)
      io::write_file_atomically(dir + "/" + name + ".cu", ops::blueprint_module_source(g, sh));
    if (mode == ops::CodegenMode::fused) return;
    const ops::LinkedPrograms p = ops::linked_programs(g, sh, {});
    const std::string rows = mode == ops::CodegenMode::tiered ? name + "_rows" : name;
    io::write_file_atomically(dir + "/" + rows + ".cu", p.rows);
    io::write_file_atomically(str_cat(dir, "/seed_kernels_C", sh.chunk, ".cu"), *p.templ);
  } catch (const IoError& e) {
    throw UserError(std::string("--source: ") + e.what());
  }
}

// "LABEL KEY ARCH LEVEL linked|fused TIME ms BYTES bytes\n"
std::string compile_line(const std::string& label, const std::string& arch,
                         const ops::CompiledBlueprint& c, double ms) {
  char line[512];
  std::snprintf(line, sizeof line, "%s %s %s %s %s %.1f ms %zu bytes\n", label.c_str(),
                c.key.c_str(), arch.c_str(), ops::compile_level_name(c.level),
                c.linked ? "linked" : "fused", ms, c.ok ? c.cubin().size() : size_t(0));
  return line;
}

// One compile (now or from the caches), its kernel event (layer: the kasmina layer's index, -1
// for a blueprints file) and its line; false when it failed (its log printed).
bool compile_one(ops::BlueprintCompiler& compiler, const ir::Graph& g,
                 const morph::BlueprintShape& sh, const std::string& label, const std::string& arch,
                 const CheckOptions& o, int32_t layer, KernelEventLog& events) {
  if (!o.source_dir.empty()) write_source(compiler, g, sh, label, o.source_dir);
  const auto t0 = std::chrono::steady_clock::now();
  const ops::CompiledBlueprint c = compiler.get(g, sh, arch);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (c.level == ops::CompileLevel::unavailable) throw UserError(c.log);
  events.publish(control::KernelEvent{layer, g.name, sh.chunk, c.key,
                                      ops::compile_level_name(c.level), ms, -1.0, "",
                                      c.ok ? std::string() : "compile failed"});
  std::string text = compile_line(label, arch, c, ms);
  if (!c.fallback.empty()) text += "  " + c.fallback + "\n";  // fused, not linked: why
  if (!c.ok) {
    print(text + "failed:\n" + c.log + "\n");
    return false;
  }
  if (c.upgrade) {  // tiered: the fused module, compiled in the background, waited for here
    print(text);
    const ops::CompiledBlueprint& f = c.upgrade->wait();
    const double all_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    events.publish(control::KernelEvent{layer, g.name, sh.chunk, f.key,
                                        ops::compile_level_name(f.level), all_ms, -1.0, "",
                                        f.ok ? std::string() : "compile failed"});
    text = compile_line(label, arch, f, all_ms);
    text.insert(text.size() - 1, " (in the background; the time since the start)");
    if (!f.ok) {
      print(text + "failed (the linked module stays):\n" + f.log + "\n");
      return false;
    }
  }
  print(o.repeat > 0 ? text + timed_lookups(compiler, g, sh, arch, o.cache_dir, o.repeat) : text);
  return true;
}

// Exit 0 when every blueprint compiled (now or from the cache), 2 when one failed (its log is
// printed) or NVRTC cannot be loaded. A config: every IR blueprint at each of its kasmina
// layers' shapes; a file of blueprints: each at --chunk, --hidden, --rank.
int compile(const CheckOptions& o) {
  ops::BlueprintCompiler compiler(cache_options(o.cache_dir), ops::nvrtc_options_from_env());
  const std::string arch = target_arch(o.arch);
  KernelEventLog events("blueprint compile", o.file, o.telemetry);
  int rc = 0;
  if (file_has_model(o.file)) {
    const std::vector<IrLayerWork> work = ir_layer_work(o.file);
    for (const IrLayerWork& w : work)
      if (!compile_one(compiler, w.blueprint->graph(), w.shape, work_label(w), arch, o, w.layer,
                       events))
        rc = 2;
    if (work.empty()) print("no kasmina layer of the config names an IR blueprint\n");
  } else {
    const morph::BlueprintShape sh{o.chunk, o.hidden, o.rank};
    for (const ir::Graph& g : load_blueprint_file(o.file))
      if (!compile_one(compiler, g, sh, g.name, arch, o, -1, events)) rc = 2;
  }
  events.finish("NVRTC for " + arch);
  return rc;
}

}  // namespace

void add_blueprint_command(CLI::App& app, int& exit_code) {
  CLI::App* bp =
      app.add_subcommand("blueprint", "Blueprints written in the IR: check, compile, kernel cache");
  bp->require_subcommand(1);
  auto o = std::make_shared<CheckOptions>();
  CLI::App* chk = bp->add_subcommand(
      "check", "Validate the blueprints: of a YAML file; print shapes, parameters and hash");
  add_shape_options(chk, *o);
  chk->callback([o, &exit_code] {
    check(*o);
    exit_code = 0;
  });

  auto co = std::make_shared<CheckOptions>();
  CLI::App* comp = bp->add_subcommand(
      "compile",
      "Compile the IR blueprints of a config (each kasmina layer's shape) or of a blueprints file "
      "(--chunk, --hidden, --rank) with NVRTC into the kernel cache");
  add_shape_options(comp, *co);
  add_tune_command(bp, exit_code);
  comp->add_option("--arch", co->arch,
                   "the GPU architecture (default: the first CUDA device's, else sm_90)");
  comp->add_option("--dir", co->cache_dir, "the kernel cache directory");
  comp->add_option("--repeat", co->repeat,
                   "then time N lookups of each from memory and N from disk (a new compiler "
                   "each): median and p99")
      ->check(CLI::Range(1, 1000000));
  comp->add_option("--source", co->source_dir,
                   "(debugging) also write each blueprint's generated CUDA source, as compiled, "
                   "to DIR/NAME.cu")
      ->check(CLI::ExistingDirectory);
  comp->add_option("--telemetry", co->telemetry,
                   "also write the kernel events (key, cache level, time) to this telemetry file "
                   "(kasmina inspect telemetry FILE)");
  comp->callback([co, &exit_code] { exit_code = compile(*co); });

  auto dir = std::make_shared<std::string>(ir::default_cache_dir());
  CLI::App* cache = bp->add_subcommand("cache", "The kernel cache on disk: stats, verify, clear");
  cache->add_option("--dir", *dir,
                    "the cache directory (default $KASMINA_CACHE_DIR, else the user's cache "
                    "directory/kasmina/kernels)");
  cache->require_subcommand(1);
  cache->add_subcommand("stats", "Entries, failed compiles, size, quarantined files")
      ->callback([dir, &exit_code] {
        cache_stats(*dir);
        exit_code = 0;
      });
  cache->add_subcommand("verify", "Verify every entry; quarantine the bad ones (exit 2)")
      ->callback([dir, &exit_code] { exit_code = cache_verify(*dir); });
  cache->add_subcommand("clear", "Remove every entry, quarantined file and lock")
      ->callback([dir, &exit_code] {
        ir::KernelCache(cache_options(*dir)).clear();
        print("cleared " + *dir + "\n");
        exit_code = 0;
      });
}

}  // namespace kasmina::cli
