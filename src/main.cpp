// kasmina: registers the subcommands and runs one. Nothing else lives here.
#include "cli/app.hpp"

int main(int argc, char** argv) { return kasmina::cli::run(argc, argv); }
