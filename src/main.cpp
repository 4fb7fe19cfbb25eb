// kasmina: registers the subcommands and runs one. Nothing else lives here.
#include <cstdio>

#include "cli/app.hpp"

int main(int argc, char** argv) {
  // Line-buffered stdout, so that a log piped to a file or `tee` is complete line by line.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return kasmina::cli::run(argc, argv);
}
