"""What the Python tests run by meson share: an interpreter with the packages they need, the
`kasmina` binary and the source tree (KASMINA_BIN, KASMINA_SOURCE_ROOT), and meson's skip code.

require(*modules) returns when every module imports. Otherwise it starts the test again under
the Python of the virtual environment scripts/setup.sh installs the PyPI packages into
($KASMINA_PYENV, default ~/.cache/kasmina/pyenv; it sees Debian's numpy and h5py) or Debian's
/usr/bin/python3, and when none has them it exits with 77, which meson reports as a skipped
test, naming what is missing.
"""
import importlib
import os
import subprocess
import sys

SKIP = 77


def source_root():
    return os.environ.get("KASMINA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def kasmina(*args, **kwargs):
    """Runs the binary; returns the CompletedProcess (stdout and stderr as text)."""
    binary = os.environ.get("KASMINA_BIN")
    if not binary:
        print("KASMINA_BIN not set: run through meson test")
        sys.exit(SKIP)
    return subprocess.run([binary, *args], capture_output=True, text=True, **kwargs)


def require(*modules):
    missing = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            missing.append(m)
    if not missing:
        return
    tried = os.environ.get("KASMINA_PY_TRIED", "").split(os.pathsep)
    pyenv = os.environ.get("KASMINA_PYENV") or os.path.expanduser("~/.cache/kasmina/pyenv")
    for python in (os.path.join(pyenv, "bin", "python3"), "/usr/bin/python3"):
        # Not resolved: a virtual environment's python links to the base interpreter.
        path = os.path.abspath(python)
        if os.access(path, os.X_OK) and path not in tried and os.path.abspath(sys.executable) != path:
            env = dict(os.environ, KASMINA_PY_TRIED=os.pathsep.join(tried + [path]))
            os.execve(path, [path, *sys.argv], env)
    print(f"skipped: the Python packages {', '.join(missing)} are not installed "
          "(scripts/setup.sh installs them)")
    sys.exit(SKIP)
