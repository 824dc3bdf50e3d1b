#!/usr/bin/env bash
# Create the separate GeNN environment that biolstm's genn backend runs in (`make genn`).
#
# brian2genn 1.7.0 (the newest release) requires brian2 >= 2.5.0.2, < 2.6, which needs
# numpy < 2, and drives GeNN 4.x through $GENN_PATH/bin/genn-buildmodel.sh (GeNN 5 dropped
# that script; no brian2genn release supports GeNN 5). GeNN 4 is on neither PyPI nor Debian.
# So the genn runs use an environment of their own, next to the main one (.venv is not
# touched):
#
#   .venv-genn/   Python 3.11, brian2 2.5.4, numpy < 2, brian2genn 1.7.0 (from PyPI)
#   .genn/        GeNN 4.9.0 unpacked from an archive (only when GENN_PATH names an archive)
#   .venv-genn/biolstm-genn.json   versions and the GeNN folder, read by `biolstm backends`
#
# GENN_PATH: a GeNN 4.x source folder (a checkout of tag 4.9.0 of github.com/genn-team/genn)
# or its release archive (.tar.gz/.tgz/.zip). Unset: the development copy
# $BIOLSTM_SHARED/vendor/genn-4.9.0.tar.gz (default ../shared/vendor) if it exists.
# GENN_PYTHON: the interpreter (default python3.11; brian2 2.5.4 has wheels up to 3.11).
#
# The last step builds and runs a 20-neuron network through set_device('genn',
# use_GPU=False), which also compiles GeNN's own libraries once (about a minute).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${GENN_ENV:-$ROOT/.venv-genn}"
UNPACK_DIR="$ROOT/.genn"
GENN_PYTHON="${GENN_PYTHON:-python3.11}"
PINS=("brian2==2.5.4" "numpy<2" "brian2genn==1.7.0" "setuptools<70")
RELEASE_URL="https://github.com/genn-team/genn/releases/tag/4.9.0"

fail() { echo "make genn: $*" >&2; exit 1; }

# --- 1. find GeNN ---------------------------------------------------------------------
src="${GENN_PATH:-}"
if [ -z "$src" ]; then
    shared="${BIOLSTM_SHARED:-$ROOT/../shared}"
    if [ -f "$shared/vendor/genn-4.9.0.tar.gz" ]; then
        src="$shared/vendor/genn-4.9.0.tar.gz"
    else
        fail "GeNN 4.9.0 not found. Download the GeNN 4.9.0 release (source code archive) from
  $RELEASE_URL
and run:  make genn GENN_PATH=/path/to/genn-4.9.0.tar.gz   (or the unpacked folder, or a git
checkout of tag 4.9.0 of github.com/genn-team/genn). GeNN 5.x does not work with brian2genn."
    fi
fi
[ -e "$src" ] || fail "GENN_PATH=$src does not exist. Set GENN_PATH to the GeNN 4.9.0 release archive
or folder from $RELEASE_URL"
src="$(cd "$(dirname "$src")" && pwd)/$(basename "$src")"

if [ -d "$src" ]; then
    genn="$src"
else
    case "$src" in
        *.tar.gz|*.tgz|*.zip) ;;
        *) fail "GENN_PATH=$src is neither a folder nor a .tar.gz/.tgz/.zip archive" ;;
    esac
    mkdir -p "$UNPACK_DIR"
    top="$(case "$src" in *.zip) unzip -Z1 "$src" | awk 'NR==1' ;; *) tar tzf "$src" | awk 'NR==1' ;; esac)"
    top="${top%%/*}"
    [ -n "$top" ] || fail "cannot list the archive $src"
    genn="$UNPACK_DIR/$top"
    if [ ! -f "$genn/bin/genn-buildmodel.sh" ]; then
        echo "Unpacking $(basename "$src") into $UNPACK_DIR"
        rm -rf "$genn.partial" && mkdir -p "$genn.partial"
        case "$src" in
            *.zip) (cd "$genn.partial" && unzip -q "$src") ;;
            *) tar xzf "$src" -C "$genn.partial" ;;
        esac
        rm -rf "$genn" && mv "$genn.partial/$top" "$genn" && rmdir "$genn.partial"
    fi
fi
[ -f "$genn/bin/genn-buildmodel.sh" ] || fail "no bin/genn-buildmodel.sh in $genn: GENN_PATH must be
GeNN 4.x (GeNN 5 dropped the script brian2genn calls). Download GeNN 4.9.0 from $RELEASE_URL"
genn_version="$(cat "$genn/version.txt" 2>/dev/null | tr -d '[:space:]' || true)"
case "$genn_version" in
    4.*) ;;
    *) fail "GeNN in $genn is version '${genn_version:-unknown}', brian2genn 1.7.0 needs 4.x; download
GeNN 4.9.0 from $RELEASE_URL" ;;
esac
chmod +x "$genn"/bin/*.sh

# --- 2. the Python environment -----------------------------------------------------------
command -v "$GENN_PYTHON" >/dev/null || fail "$GENN_PYTHON not found; brian2 2.5.4 (which brian2genn
1.7.0 needs) has wheels for Python 3.8-3.11: install Python 3.11 or set GENN_PYTHON"
"$GENN_PYTHON" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 11) else
    "brian2 2.5.4 supports Python 3.8-3.11, this is " + sys.version.split()[0] + "; set GENN_PYTHON=python3.11")' \
    || fail "wrong Python for the GeNN environment"
command -v g++ >/dev/null || command -v c++ >/dev/null || fail "GeNN needs a C++ compiler (apt install build-essential)"
command -v make >/dev/null || fail "GeNN needs make (apt install make)"

if [ ! -x "$ENV_DIR/bin/python" ]; then
    echo "Creating $ENV_DIR with $("$GENN_PYTHON" --version)"
    "$GENN_PYTHON" -m venv "$ENV_DIR"
fi
"$ENV_DIR/bin/python" -m pip install --quiet --upgrade pip
echo "Installing ${PINS[*]}"
"$ENV_DIR/bin/python" -m pip install --quiet "${PINS[@]}"

# --- 3. record what was installed (read by biolstm.brian.genn / `biolstm backends`) ---
GENN_FOLDER="$genn" GENN_VERSION="$genn_version" "$ENV_DIR/bin/python" - "$ENV_DIR/biolstm-genn.json" <<'EOF'
import json, os, sys, platform
from importlib.metadata import version
info = {
    "python": platform.python_version(),
    "brian2": version("brian2"),
    "brian2genn": version("brian2genn"),
    "numpy": version("numpy"),
    "genn": os.environ["GENN_VERSION"],
    "genn_path": os.environ["GENN_FOLDER"],
}
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as fh:
    json.dump(info, fh, indent=1)
os.replace(tmp, sys.argv[1])
print("Recorded", ", ".join(f"{k} {v}" for k, v in info.items() if k != "genn_path"))
EOF

# --- 4. smoke test: build and run a small network through GeNN's CPU backend ----------------
echo "Smoke test: a 20-neuron network through set_device('genn', use_GPU=False)"
start=$(date +%s)
GENN_PATH="$genn" nice "$ENV_DIR/bin/python" "$ROOT/biolstm/brian/genn_runner.py" --self-test \
    || fail "the smoke test failed (output above); the environment is in $ENV_DIR"
echo "Smoke test passed in $(( $(date +%s) - start )) s. The genn backend is ready: biolstm backends"
