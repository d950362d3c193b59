#!/usr/bin/env bash
# Build the HTML documentation of skwfm, offline, with warnings as errors.
#
#   docs/build.sh              HTML with the gallery executed (docs/_build/html)
#   docs/build.sh --no-gallery HTML without running the examples (quick check)
#   docs/build.sh --doctest    HTML, then run the snippets of the .rst pages
#   docs/build.sh --clean      remove every build product first
#
# Needs the docs extra: pip install -e ".[docs]". PYTHON selects the interpreter
# (default: python). The package documented is the one of this checkout.
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DOCS")"
PYTHON="${PYTHON:-python}"
OPTS=()
DOCTEST=0
for arg in "$@"; do
    case "$arg" in
        --no-gallery) OPTS+=(-D plot_gallery=0) ;;
        --doctest) DOCTEST=1 ;;
        --clean) rm -rf "$DOCS/_build" "$DOCS/generated" "$DOCS/auto_examples" \
                        "$DOCS/gen_modules" "$DOCS/sg_execution_times.rst" ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
cd "$DOCS"
start=$(date +%s)
"$PYTHON" -m sphinx -W --keep-going -b html -d _build/doctrees "${OPTS[@]}" . _build/html
if [ "$DOCTEST" = 1 ]; then
    "$PYTHON" -m sphinx -W --keep-going -b doctest -d _build/doctrees "${OPTS[@]}" . _build/doctest
fi
echo "docs built in $(( $(date +%s) - start )) s: $DOCS/_build/html/index.html"
