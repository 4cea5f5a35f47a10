// lbfp: the single command-line program of the toolkit.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "commands.h"
#include "golden.h"

int main(int argc, char** argv) {
  CLI::App app{"lbfp: golden reference, simulation and evaluation of LBFP accelerators"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "lbfp 0.1.0");
  lbfp::cli::add_golden_command(app);
  lbfp::cli::add_cosim_command(app);
  lbfp::cli::add_synth_command(app);
  lbfp::cli::add_eval_command(app);

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
