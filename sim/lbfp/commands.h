// Each `lbfp` subcommand registers itself on the CLI11 application.
#pragma once

namespace CLI {
class App;
}

namespace lbfp::cli {

void add_golden_command(CLI::App& app);
void add_cosim_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_sim_command(CLI::App& app);
void add_sweep_command(CLI::App& app);

}  // namespace lbfp::cli
