// `kasmina blueprint`: check FILE (the IR blueprints of a YAML file: shapes, parameter count,
// canonical hash; exit 2 on errors) and cache stats|verify|clear (the kernel cache on disk).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "config/blueprints.hpp"
#include "ir/describe.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::cli {

namespace {

struct CheckOptions {
  std::string file;
  int chunk = 16;
  int hidden = morph::kDefaultHidden;
  int rank = morph::kDefaultRank;
};

void check(const CheckOptions& o) {
  const std::vector<ir::Graph> graphs = load_blueprint_file(o.file);
  const morph::BlueprintShape sh{o.chunk, o.hidden, o.rank};
  std::string out;
  for (const ir::Graph& g : graphs) out += ir::describe(g, sh);
  out += std::to_string(graphs.size()) + " blueprint(s) valid\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_blueprint_command(CLI::App& app, int& exit_code) {
  CLI::App* bp = app.add_subcommand("blueprint", "Check blueprints written in the IR");
  bp->require_subcommand(1);
  auto o = std::make_shared<CheckOptions>();
  CLI::App* chk = bp->add_subcommand(
      "check", "Validate the blueprints: of a YAML file; print shapes, parameters and hash");
  chk->add_option("FILE", o->file, "a config or a file with a blueprints: mapping")->required();
  chk->add_option("--chunk", o->chunk, "C, the seed's chunk width, for the sizes (default 16)")
      ->check(CLI::Range(1, morph::kMaxChunk));
  chk->add_option("--hidden", o->hidden, "h, the layer's hidden width")
      ->check(CLI::Range(1, morph::kMaxHidden));
  chk->add_option("--rank", o->rank, "r, the layer's rank")
      ->check(CLI::Range(1, morph::kMaxHidden));
  chk->callback([o, &exit_code] {
    check(*o);
    exit_code = 0;
  });
}

}  // namespace kasmina::cli
