// lbfp: the single command-line program of the toolkit.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>

#include "commands.h"
#include "golden.h"
#include "output_file.h"

// libsystemc calls sc_main from a main() of its own; lbfp has its own main() and starts the
// SystemC kernel only inside `lbfp sim`, so this is never called.
extern "C" int sc_main(int /*argc*/, char** /*argv*/) { return 1; }

int main(int argc, char** argv) {
  ::setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);  // keep stdout to the results
  lbfp::cli::set_command_line(argc, argv);
  CLI::App app{"lbfp: golden reference, simulation and evaluation of LBFP accelerators"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "lbfp 0.1.0");
  lbfp::cli::add_golden_command(app);
  lbfp::cli::add_cosim_command(app);
  lbfp::cli::add_synth_command(app);
  lbfp::cli::add_eval_command(app);
  lbfp::cli::add_sim_command(app);
  lbfp::cli::add_sweep_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // a subcommand's own exit status
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return lbfp::cli::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "lbfp: error: " << e.what() << "\n";
    return lbfp::cli::kExitBadInput;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  return 0;
}
