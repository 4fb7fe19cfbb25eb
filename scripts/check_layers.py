#!/usr/bin/env python3
"""Checks that no include runs from a lower folder to a higher one (docs/ARCHITECTURE.md).

Every quoted #include in src/, kernels/ and bench/ is resolved to the folder it names; the
including folder must be at the same level or above it in LAYERS. Prints each violation as
`file:line: FROM includes TO (lower layer FROM may not include higher layer TO)` and exits 1
when there is any; exits 0 and prints a one-line count otherwise.
Usage: scripts/check_layers.py [SOURCE_ROOT]
"""
import os
import re
import sys

# Lowest first. Folders on one line share a level (they may include each other).
LAYERS = [
    ["core"],                 # tensors, devices, RNG, errors, host/device math headers
    ["morph"],                # per-seed math shared by the fused kernels and their CPU twins
    ["ir"],                   # blueprint IR: graph, shapes, canonical hash, CPU interpreter
    ["ops", "kernels"],       # the op registry: CPU twins, CUDA launchers and kernels
    ["config"],               # YAML -> typed, validated config structs
    ["data"],                 # datasets and batching
    ["nn"],                   # layers (the morphogenetic layer too), model graph, optimizers
    ["control"],              # growth controller policies and the event bus
    ["train"],                # the training loop, evaluation, growth wiring, run state
    ["io"],                   # HDF5 checkpoints and telemetry, readers
    ["bench"],                # benchmarks linked into the binary
    ["cli"],                  # one file per subcommand
    ["main.cpp"],
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
# Files that are generated into the build directory and sit outside the layers.
GENERATED = {"kasmina_build_config.hpp"}
SOURCE = re.compile(r".*\.(hpp|cpp|h|cu|cuh)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(rel):
    parts = rel.split("/")
    if parts[0] == "src":
        return parts[1]
    return parts[0]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    violations, checked = [], 0
    for top in ("src", "kernels", "bench"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not SOURCE.match(f):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                here = folder_of(rel)
                if here not in LEVEL:
                    violations.append(f"{rel}:1: folder '{here}' is not in the layer list")
                    continue
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        if target in GENERATED:
                            continue
                        checked += 1
                        first = target.split("/")[0]
                        if "/" not in target:
                            # A sibling include ("warp_reduce.cuh" in kernels/): same folder.
                            continue
                        if first not in LEVEL:
                            violations.append(f"{rel}:{n}: includes '{target}' from an unknown folder")
                        elif LEVEL[first] > LEVEL[here]:
                            violations.append(
                                f"{rel}:{n}: {here} includes {target} (a lower layer may not "
                                f"include a higher one; order in docs/ARCHITECTURE.md)")
    for v in violations:
        print(v)
    if violations:
        print(f"check_layers: {len(violations)} include(s) run upwards")
        return 1
    print(f"check_layers: {checked} includes checked, none runs upwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
