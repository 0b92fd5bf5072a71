#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 or
# 24.04 base image). The autograder zip is this course folder (grader/, solutions/,
# mistakes/, pyproject.toml, README.md) with setup.sh and run_autograder copied to its top;
# Gradescope unpacks it in /autograder/source.
#
# Tested by tests/test_gradescope.py, which runs these steps in a fake /autograder: all but
# apt-get (GRADER_SETUP_APT=0), in a venv that already sees the test machine's torch.
set -euo pipefail
AUTOGRADER="${AUTOGRADER:-/autograder}"
SOURCE="$AUTOGRADER/source"
VENV="$AUTOGRADER/venv"

if [ "${GRADER_SETUP_APT:-1}" = 1 ]; then
  # python3-venv: Ubuntu's Python has no ensurepip without it. No bubblewrap: Gradescope's
  # containers allow no namespaces, so it could not run; the grader uses its uid level.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi

# Ubuntu's Python is "externally managed" (PEP 668): the grader gets a virtual environment.
python3 -m venv "$VENV"
# The CPU build of torch (Gradescope has no GPU): ~200 MB instead of several GB of CUDA.
"$VENV/bin/python" -m pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/python" -m pip install --no-cache-dir "$SOURCE"

# Only root may read the course folder (the reference, the known mistakes): student code runs
# as another user (the uid level) and cannot open them.
chmod -R go-rwx "$SOURCE"
"$VENV/bin/grade" --version
