#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "cli/inspect.hpp"
#include "core/error.hpp"
#include "core/git_commit.hpp"
#include "io/hdf5_handle.hpp"
#include "kasmina_build_config.hpp"
#include "ops/blueprint_compiler.hpp"

namespace kasmina::cli {

int run(int argc, char** argv) {
  // On every return, before the process exits: the fused modules of tiered compiles still
  // compiling in the background are waited for (and land in the kernel cache).
  struct FinishCompiles {
    ~FinishCompiles() {
      if (const int32_t n = ops::running_background_compiles(); n > 0)
        std::fprintf(stderr,
                     "kasmina: waiting for %d kernel compile(s) still running in the background "
                     "(for the kernel cache, so the next run has them)\n",
                     n);
      ops::finish_background_compiles();
    }
  } finish_compiles;
  io::hdf5_init();  // HDF5 prints nothing itself: its failures become one kasmina message
  CLI::App app{"kasmina: morphogenetic training — networks that grow capacity while they train"};
  app.set_version_flag("--version", std::string("kasmina ") + KASMINA_VERSION + " (" +
                                        git_commit() + ", " + KASMINA_BUILD_TYPE + ", CUDA " +
                                        (KASMINA_HAS_CUDA ? "enabled" : "disabled") + ")");
  app.require_subcommand(1);
  int exit_code = 0;
  add_train_command(app, exit_code);
  add_device_command(app, exit_code);
  add_inspect_command(app, exit_code);
  add_eval_command(app, exit_code);
  add_export_command(app, exit_code);
  add_bench_command(app, exit_code);
  add_blueprint_command(app, exit_code);
  // CLI11 would only say "A subcommand is required" for `kasmina frobnicate`.
  std::string allowed;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    allowed += (allowed.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::fprintf(stderr, "kasmina: error: unknown command '%s' (allowed: %s)\n", argv[1],
                 allowed.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "kasmina: error: %s\n", e.what());
    std::fprintf(stderr, "Run with --help for more information.\n");
    return 2;
  } catch (const UserError& e) {
    std::fprintf(stderr, "kasmina: error: %s\n", e.what());
    return 2;
  } catch (const IoError& e) {
    std::fprintf(stderr, "kasmina: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kasmina: internal error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}

}  // namespace kasmina::cli
