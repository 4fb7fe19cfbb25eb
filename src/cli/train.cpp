// `kasmina train CONFIG`: parse -> validate -> load data -> train -> write the run directory
// (config.yaml, telemetry.h5, tensorboard/, checkpoints/step_<N>.h5, summary.json). `--resume PATH`
// continues a run from a checkpoint into the same run directory. SIGINT finishes the current step,
// writes a checkpoint and exits with 130; a second SIGINT exits at once.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/background_writer.hpp"
#include "cli/commands.hpp"
#include "cli/run_output.hpp"
#include "cli/train_ranks.hpp"
#include "config/config.hpp"
#include "config/config_warnings.hpp"
#include "core/env_switch.hpp"
#include "core/progress.hpp"
#include "data/dataset.hpp"
#include "io/checkpoint_files.hpp"
#include "io/resume_config.hpp"
#include "io/run_checkpoint.hpp"
#include "io/run_telemetry.hpp"
#include "io/tensorboard/run_tensorboard.hpp"
#include "kasmina_build_config.hpp"
#include "morph/stage.hpp"
#include "ops/ops.hpp"
#include "train/device_warm_up.hpp"
#include "train/trainer.hpp"

namespace kasmina::cli {

namespace {

struct TrainOptions {
  std::string config_path;
  std::vector<std::string> sets;
  std::string device;
  std::string data_dir;
  std::string out;
  int64_t seed = -1;
  std::string resume;
};

// ---- SIGINT: the trainer polls the flag once per step ----

std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int) {
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
  static const char msg[] =
      "\ninterrupted: finishing the current step and writing a checkpoint (interrupt again to quit "
      "at once)\n";
  const ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

// Installs the handler for the lifetime of the object.
class InterruptHandler {
 public:
  InterruptHandler() {
    g_interrupts.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_);
  }
  ~InterruptHandler() { ::sigaction(SIGINT, &old_, nullptr); }
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;
  bool requested() const { return g_interrupts.load(std::memory_order_relaxed) > 0; }

 private:
  struct sigaction old_ {};
};

// Prints one line per epoch (always) and a progress bar on a terminal.
class ConsoleObserver final : public TrainerObserver {
 public:
  explicit ConsoleObserver(bool tty) : tty_(tty), bar_(stdout) {}
  bool wants_progress() const override { return tty_; }
  void on_progress(const ProgressReport& p) override {
    char text[160];
    std::snprintf(text, sizeof text, "%ld/%ld  loss %.4f  %.0f samples/s  ETA %s",
                  static_cast<long>(p.step), static_cast<long>(p.steps_per_epoch), p.loss,
                  p.samples_per_second, format_duration(p.eta_seconds).c_str());
    bar_.draw("epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs),
              static_cast<double>(p.step) / static_cast<double>(p.steps_per_epoch), text);
  }
  void on_epoch(const EpochReport& r) override {
    bar_.clear();
    std::string val;
    if (r.validation) {
      char v[96];
      std::snprintf(v, sizeof v, "  val loss %.4f  val acc %.4f", r.validation->loss,
                    r.validation->accuracy);
      val = v;
    }
    std::printf(
        "epoch %ld/%ld  train loss %.4f%s  test loss %.4f  test acc %.4f  %.2fs  %.0f samples/s\n",
        static_cast<long>(r.epoch), static_cast<long>(r.epochs), r.train_loss, val.c_str(),
        r.test.loss, r.test.accuracy, r.seconds, r.samples_per_second);
    std::fflush(stdout);
  }
  void on_message(const std::string& m) override {
    bar_.clear();
    std::printf("%s\n", m.c_str());
    std::fflush(stdout);
  }

 private:
  bool tty_;
  ProgressBar bar_;
};

// The console plus the run directory's telemetry (telemetry.h5, tensorboard/) and checkpoints.
class RunObserver final : public TrainerObserver {
 public:
  RunObserver(TrainerObserver& console, io::RunTelemetry* telemetry, io::RunTensorBoard* tb,
              const Trainer& trainer, const Config& cfg, const std::string& config_yaml,
              RunDirectory& run_dir, const InterruptHandler& sigint)
      : console_(console),
        tel_(telemetry),
        tb_(tb),
        trainer_(trainer),
        cfg_(cfg),
        yaml_(config_yaml),
        dir_(run_dir),
        run_dir_(run_dir.path().string()),
        sigint_(sigint),
        writer_(
            run_dir_, cfg.checkpoint.keep,
            {.checkpoint_written =
                 [this](const std::string& path) { console_.on_message("checkpoint: " + path); },
             .valuable = [this] { dir_.mark_valuable(); }},
            background_hdf5_possible()) {}

  bool wants_progress() const override { return console_.wants_progress(); }
  void on_progress(const ProgressReport& p) override {
    writer_.poll();
    console_.on_progress(p);
  }
  void on_epoch(const EpochReport& r) override {
    writer_.poll();
    console_.on_epoch(r);
    if (tel_) tel_->epoch(r);
    if (tb_) tb_->epoch(r, trainer_.global_step());
  }
  void on_message(const std::string& m) override { console_.on_message(m); }
  void on_growth_event(const std::string& line) override { console_.on_growth_event(line); }

  int64_t metrics_every() const override { return tel_ || tb_ ? cfg_.telemetry.every_steps : 0; }
  void on_step_metrics(const StepMetrics& m) override {
    if (tel_) tel_->step(m);
    if (tb_) tb_->step(m);
  }
  void on_seed_telemetry(int32_t layer_index, const morph::KasminaLayer& layer,
                         int64_t step) override {
    if (tel_) tel_->seed_stats(layer_index, layer, step);
    if (tb_) tb_->seed_stats(layer_index, layer, step);
  }
  void on_lifecycle_event(const morph::MorphEvent& e, const std::string& note) override {
    if (tel_) tel_->event(e, note);
    if (tb_) tb_->event(e, note);
  }
  bool wants_bus_log() const override { return tel_ != nullptr; }
  void on_bus_messages(std::vector<control::MessageRecord> log) override { tel_->messages(log); }
  void on_flush_point() override {
    writer_.poll();
    // The telemetry file is stored by the background writer, which marks the directory valuable
    // once it is in place (flushed rows are kept even if the run fails later).
    if (tel_) writer_.store(tel_->path(), tel_->flush_image());
    if (!tb_) return;
    tb_->flush();
    dir_.mark_valuable();
  }

  bool wants_checkpoints() const override { return true; }
  void on_checkpoint(Trainer& trainer) override {
    // The state is captured here; the file is written beside the next steps (background_writer).
    const RunState state = trainer.capture_state();
    writer_.save_checkpoint(io::checkpoint_path(run_dir_, state.global_step),
                            io::to_checkpoint(state, yaml_, cfg_.name));
  }
  void on_run_end() override { writer_.settle(); }
  bool stop_requested() const override { return sigint_.requested(); }
  const std::string& last_checkpoint() const { return writer_.last_checkpoint(); }

 private:
  TrainerObserver& console_;
  io::RunTelemetry* tel_;
  io::RunTensorBoard* tb_;
  const Trainer& trainer_;
  const Config& cfg_;
  const std::string& yaml_;
  RunDirectory& dir_;
  std::string run_dir_;
  const InterruptHandler& sigint_;
  BackgroundWriter writer_;
};

std::string stage_label(int stage) {
  std::string s = morph::stage_name(static_cast<morph::Stage>(stage));
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

nlohmann::json eval_json(const EvalResult& r) {
  return {{"loss", r.loss}, {"accuracy", r.accuracy}, {"samples", r.samples}};
}

std::string summary_json(const Config& cfg, const TrainSummary& s, double data_seconds,
                         double warm_up_seconds) {
  nlohmann::json j;
  j["kasmina_version"] = KASMINA_VERSION;
  j["config"] = cfg.name;
  j["environment"] = nlohmann::json::object();  // the KASMINA_* variables of the run
  for (const auto& [name, value] : kasmina_environment()) j["environment"][name] = value;
  j["seed"] = cfg.seed;
  j["device"] = s.device;
  if (!s.device_name.empty()) j["device_name"] = s.device_name;
  j["epochs"] = s.epochs;
  j["steps"] = s.steps;
  j["batch_size"] = cfg.train.batch_size;
  int64_t added = 0;
  for (const LayerGrowth& g : s.growth) added += g.parameters_added;
  j["parameters"] = s.parameters + added;
  j["host_parameters"] = s.parameters;
  j["parameters_added"] = added;
  j["data_seconds"] = data_seconds;
  j["warm_up_seconds"] = warm_up_seconds;  // beside the data loading (0: none)
  j["train_seconds"] = s.train_seconds;
  j["eval_seconds"] = s.eval_seconds;
  j["checkpoint_seconds"] = s.checkpoint_seconds;
  j["samples_per_second"] = s.samples_per_second;
  j["train_flops"] = s.train_flops;
  j["train_loss"] = s.final_train_loss;
  j["test_loss"] = s.test.loss;
  j["test_accuracy"] = s.test.accuracy;
  if (s.validation) {
    j["validation_loss"] = s.validation->loss;
    j["validation_accuracy"] = s.validation->accuracy;
  }
  j["cuda_graph"] = s.graph_captured;
  j["cuda_graphs"] = s.graphs_captured;
  j["interrupted"] = s.interrupted;
  if (s.resumed_from_step >= 0) j["resumed_from_step"] = s.resumed_from_step;
  j["flagged_steps"] = s.flagged_steps;
  nlohmann::json growth = nlohmann::json::array();
  for (const LayerGrowth& g : s.growth) {
    nlohmann::json stages = nlohmann::json::object();
    for (size_t i = 0; i < g.stage_counts.size(); ++i)
      stages[stage_label(static_cast<int>(i))] = g.stage_counts[i];
    growth.push_back({{"layer", g.layer},
                      {"seeds", g.seeds},
                      {"stages", stages},
                      {"parameters_added", g.parameters_added},
                      {"germinated", g.germinated},
                      {"fossilized", g.fossilized},
                      {"culled", g.culled},
                      {"rolled_back", g.rolled_back},
                      {"refused", g.refused}});
  }
  j["growth"] = growth;
  nlohmann::json epochs = nlohmann::json::array();
  for (const EpochReport& r : s.epoch_reports) {
    nlohmann::json e = {{"epoch", r.epoch},
                        {"train_loss", r.train_loss},
                        {"train_accuracy", r.train_accuracy},
                        {"test", eval_json(r.test)},
                        {"seconds", r.seconds},
                        {"samples_per_second", r.samples_per_second}};
    if (r.validation) e["validation"] = eval_json(*r.validation);
    epochs.push_back(e);
  }
  j["history"] = epochs;
  return j.dump(2) + "\n";
}

int run_train(const TrainOptions& o) {
  using Clock = std::chrono::steady_clock;
  const RankInfo ranks = start_ranks();  // rank 0 alone prints and writes the run directory
  // A file-size limit (ulimit -f) makes a write fail with "file too large", reported like a
  // full disk, instead of killing the process.
  ::signal(SIGXFSZ, SIG_IGN);
  // Data directory precedence: --data-dir > KASMINA_DATA_DIR > data.dir in the config.
  Overrides ov;
  if (const char* env = std::getenv("KASMINA_DATA_DIR"); env && *env && o.data_dir.empty())
    ov.sets.push_back(string_override("data.dir", env));
  for (const auto& s : o.sets) ov.sets.push_back(s);
  if (!o.data_dir.empty()) ov.sets.push_back(string_override("data.dir", o.data_dir));
  if (!o.device.empty()) ov.sets.push_back(string_override("device", o.device));
  if (o.seed >= 0) ov.sets.push_back("seed=" + std::to_string(o.seed));

  // --resume: the checkpoint (verified), its run directory and the configuration it was
  // written with; a config given on the command line may change only what keeps the run exact.
  // The run directory of a resume is locked before anything in it is read, and nothing in it
  // is written before everything has been validated.
  std::string resume_file;
  io::CheckpointState checkpoint;
  Config cfg;
  std::unique_ptr<RunDirectory> run_dir;
  if (!o.resume.empty()) {
    if (!o.out.empty())
      throw UserError(
          "--out cannot be combined with --resume (the run continues in its own directory)");
    std::error_code ec;
    if (ranks.rank == 0 && std::filesystem::is_directory(o.resume, ec))
      run_dir = std::make_unique<RunDirectory>(o.resume, RunDirectory::Existing{});
    resume_file = io::resolve_resume_path(o.resume);
    if (!run_dir && ranks.rank == 0)
      run_dir = std::make_unique<RunDirectory>(io::run_dir_of_checkpoint(resume_file),
                                               RunDirectory::Existing{});
    checkpoint = io::read_checkpoint(resume_file, /*verify=*/true);
    const Config saved = parse_config(checkpoint.config_yaml, resume_file + " (stored config)");
    cfg = o.config_path.empty() ? parse_config(checkpoint.config_yaml, resume_file, ov)
                                : load_config(o.config_path, ov);
    const io::ConfigChanges changes = io::compare_for_resume(saved, cfg);
    if (!changes.refused.empty()) {
      std::string msg = "--resume " + resume_file +
                        ": the configuration differs from the checkpoint's in what the run "
                        "state depends on:";
      for (const std::string& r : changes.refused) msg += "\n  " + r;
      msg +=
          "\n(only train.epochs/eval_batch_size/log_every_steps/graph, telemetry, checkpoint, "
          "device, name and data.dir may change)";
      throw UserError(msg);
    }
    for (const std::string& a : changes.allowed) std::printf("resume: changed %s\n", a.c_str());
  } else {
    if (o.config_path.empty())
      throw UserError("train: a CONFIG file (or --resume PATH) is required");
    cfg = load_config(o.config_path, ov);
  }
  if (ranks.rank == 0)
    for (const std::string& w : config_warnings(cfg))
      std::fprintf(stderr, "kasmina: warning: %s\n", w.c_str());
  const Device dev = Device::parse(rank_device(ranks, cfg.device));
  ops::init();
  ops::use_device(dev);

  const std::string resolved = to_yaml(cfg);
  check_ranks_agree(ranks, resolved);
  std::printf("# kasmina %s — resolved configuration\n%s\n", KASMINA_VERSION, resolved.c_str());
  if (const std::string env = kasmina_environment_line(); !env.empty())
    std::printf("# environment: %s\n", env.c_str());
  std::fflush(stdout);

  // The run directory is created and locked before the data is loaded: an --out that cannot be
  // created or written is refused at once (exit 2). A failure from here on removes only what
  // this run created and has not made valuable (run_output.hpp).
  if (!run_dir && ranks.rank == 0)
    run_dir = std::make_unique<RunDirectory>(o.out.empty() ? default_run_path(cfg.name)
                                                           : std::filesystem::path(o.out));

  const auto d0 = Clock::now();
  // The device is made ready beside the data loading (train/device_warm_up.hpp: a few hundred
  // ms of library loading, plans and kernels on a first step): wait() waits for it, and hands
  // over its error, before the Trainer uses the device.
  BackgroundWarmUp warm_up(cfg, dev);
  const DataSplits data =
      load_data(cfg.data, cfg.seed, [&cfg](int64_t train_samples, const std::string& source) {
        check_data_size(cfg, train_samples, source);
      });
  const double load_seconds = std::chrono::duration<double>(Clock::now() - d0).count();
  const double warm_up_seconds = warm_up.wait();
  Trainer trainer(cfg, data, dev);
  // The data's loading and placement, and any wait for the warm-up beside it.
  const double data_seconds = std::chrono::duration<double>(Clock::now() - d0).count();
  int64_t epochs_done = 0;
  if (!resume_file.empty()) {
    RunState state;
    try {
      state = io::from_checkpoint(checkpoint);
      trainer.restore_state(state);  // every value checked against this run's model
    } catch (const UserError& e) {
      std::string what = e.what();
      if (what.rfind("checkpoint: ", 0) == 0) what.erase(0, 12);
      throw UserError(resume_file + ": " + what);
    }
    epochs_done = state.get_int("trainer/epoch_reports");
    std::printf("resumed from %s: step %ld (epoch %ld, %ld steps into it)\n", resume_file.c_str(),
                static_cast<long>(state.global_step), static_cast<long>(state.epoch + 1),
                static_cast<long>(state.epoch_step));
    checkpoint = {};
  }

  std::printf("data: %s (loaded and placed on %s in %.2fs)\n", data.description.c_str(),
              dev.str().c_str(), data_seconds);
  if (warm_up.kind() != WarmUp::none)
    std::printf("device: %s made ready beside the data loading in %.2fs (the data took %.2fs)\n",
                warm_up.what(), warm_up_seconds, load_seconds);
  std::printf("model: %ld parameters\n", static_cast<long>(trainer.model().parameter_count()));
  for (const std::string& line : trainer.model().describe()) std::printf("  %s\n", line.c_str());

  if (ranks.multi_process)
    std::printf("processes: %d (effective batch %ld = %d x %ld)\n", ranks.world_size,
                static_cast<long>(cfg.train.batch_size * ranks.world_size), ranks.world_size,
                static_cast<long>(cfg.train.batch_size));
  if (ranks.rank != 0) {
    InterruptHandler sigint;
    FollowerObserver follower([&sigint] { return sigint.requested(); });
    const bool interrupted = trainer.run(follower).interrupted;
    dump_rank_state(ranks, trainer, resolved, cfg.name);
    return interrupted ? 130 : 0;
  }
  run_dir->write_file("config.yaml", resolved);
  std::printf("run directory: %s\n", run_dir->path().c_str());
  std::fflush(stdout);

  std::unique_ptr<io::RunTelemetry> telemetry;
  if (cfg.telemetry.enabled) {
    io::TelemetryRunInfo info;
    info.config_yaml = resolved;
    info.config_name = cfg.name;
    info.device = dev.str();
    if (dev.is_cuda())
      for (const auto& d : ops::list_cuda_devices())
        if (d.index == dev.index) info.device += " (" + d.name + ")";
    const std::string path = (run_dir->path() / "telemetry.h5").string();
    const auto& layers = trainer.model().morph_layers();
    telemetry = resume_file.empty() ? std::make_unique<io::RunTelemetry>(path, info, layers)
                                    : io::RunTelemetry::resume(path, info, layers,
                                                               trainer.global_step(), epochs_done);
  }

  // TensorBoard event files: a new file per run or resume (docs/FORMATS.md).
  std::unique_ptr<io::RunTensorBoard> tensorboard;
  if (cfg.telemetry.tensorboard)
    tensorboard =
        std::make_unique<io::RunTensorBoard>(run_dir->path() / "tensorboard", resolved,
                                             resume_file.empty() ? -1 : trainer.global_step());

  ConsoleObserver console(is_terminal(stdout));
  InterruptHandler sigint;
  RunObserver obs(console, telemetry.get(), tensorboard.get(), trainer, cfg, resolved, *run_dir,
                  sigint);
  const TrainSummary s = trainer.run(obs);
  dump_rank_state(ranks, trainer, resolved, cfg.name);
  if (telemetry) telemetry->flush();
  if (tensorboard) tensorboard->flush();
  run_dir->write_file("summary.json", summary_json(cfg, s, data_seconds, warm_up_seconds));
  run_dir->commit();
  if (s.interrupted) {
    std::printf("interrupted at step %ld; continue with: kasmina train --resume %s\n",
                static_cast<long>(s.steps), run_dir->path().c_str());
    std::fflush(stdout);
    return 130;
  }
  int64_t added = 0;
  for (const LayerGrowth& g : s.growth) {
    added += g.parameters_added;
    std::printf(
        "growth: layer %d (%d seeds): germinated %ld, fossilized %ld, culled %ld, rolled back %ld, "
        "refused %ld; %ld parameters added; at the end:",
        g.layer, g.seeds, static_cast<long>(g.germinated), static_cast<long>(g.fossilized),
        static_cast<long>(g.culled), static_cast<long>(g.rolled_back), static_cast<long>(g.refused),
        static_cast<long>(g.parameters_added));
    for (size_t i = 0; i < g.stage_counts.size(); ++i)
      if (g.stage_counts[i] > 0)
        std::printf(" %ld %s", static_cast<long>(g.stage_counts[i]),
                    stage_label(static_cast<int>(i)).c_str());
    std::printf("\n");
  }
  std::printf(
      "done: %s  %ld epochs  %.2fs training (+%.2fs data)  %.0f samples/s  test loss %.4f  test "
      "acc %.4f  %ld parameters%s\n",
      s.device.c_str(), static_cast<long>(s.epochs), s.train_seconds, data_seconds,
      s.samples_per_second, s.test.loss, s.test.accuracy, static_cast<long>(s.parameters + added),
      added > 0 ? (" (" + std::to_string(added) + " grown)").c_str() : "");
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Train the network described by a YAML config");
  cmd->add_option("config", opts->config_path,
                  "YAML config file (optional with --resume: the checkpoint's config is used)");
  cmd->add_option("--set", opts->sets, "Override a config value: key.path=value (repeatable)");
  cmd->add_option("--device", opts->device, "cpu | cuda | cuda:N (overrides the config)");
  cmd->add_option("--data-dir", opts->data_dir,
                  "Dataset directory (overrides KASMINA_DATA_DIR and the config)");
  cmd->add_option("--out", opts->out, "Run directory (default runs/<config name>-<timestamp>)");
  cmd->add_option(
      "--resume", opts->resume,
      "Continue a run: a checkpoint file, or a run directory (its newest valid checkpoint)");
  cmd->add_option("--seed", opts->seed, "Random seed (overrides the config)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opts, &exit_code] { exit_code = run_on_ranks([&] { return run_train(*opts); }); });
}

}  // namespace kasmina::cli
