#!/usr/bin/env bash
# Quickstart 1: set up and run the main job on the embedded default (the authors' score
# table and the small UltraFeedback-schema pool shipped in the package).
# Usage: bash scripts/quickstart.sh [OUT]   (default OUT: ./karma-out)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
venv="$(karma_venv demo)"
out="${1:-karma-out}"
"$venv/bin/karma-build" kinship --benchmarks all
echo
"$venv/bin/karma-build" binarize --strategy all --out "$out" --overwrite
echo
echo "Note: the shipped sample pool is synthetic text in UltraFeedback's schema: the pairs show"
echo "the mechanics, and the 'agrees with instance ratings' figures mean nothing for it."
echo "Load it:  $venv/bin/python -c \"import datasets; print(datasets.load_dataset('$out', 'k_sim'))\""
echo
# The environment is this script's, not the caller's shell: say how to reach its commands.
echo "Installed in $venv/bin, which is not on your PATH: karma-build, karma-lm-eval."
echo "To use them (and the README's examples) in this shell:"
echo "  source $venv/bin/activate"
echo "or call them by their full path: $venv/bin/karma-build --help"
