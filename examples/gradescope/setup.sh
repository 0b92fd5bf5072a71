#!/usr/bin/env bash
# Gradescope autograder image setup: the course folder (grader, solutions, mistakes) is
# uploaded as /autograder/source.
set -euo pipefail
apt-get update && apt-get install -y bubblewrap python3-pip python3-venv
pip3 install torch --index-url https://download.pytorch.org/whl/cpu
pip3 install /autograder/source
