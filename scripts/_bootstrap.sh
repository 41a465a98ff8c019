# Sourced by scripts/run and scripts/test: finds Python 3.10, makes (or reuses) a virtualenv
# keyed by the lock file, and exports FIRSTLINE_VENV. The venv lives outside the checkout so that a
# fresh clone reuses it and CI does not pay for the TensorFlow install on every run.
set -euo pipefail

FIRSTLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIRSTLINE_CACHE="${FIRSTLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firstline}"
export FIRSTLINE_ROOT FIRSTLINE_CACHE

_say() { printf '\033[1m[firstline]\033[0m %s\n' "$*" >&2; }

_find_python310() {
    local candidate
    for candidate in \
        "${FIRSTLINE_PYTHON:-}" \
        "$(command -v python3.10 2>/dev/null || true)" \
        "$(command -v pyenv >/dev/null 2>&1 && echo "$(pyenv root)/versions/3.10.13/bin/python" || true)" \
        "$HOME/.pyenv/versions/3.10.13/bin/python"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        candidate="$(ls -d "$(pyenv root)"/versions/3.10.* 2>/dev/null | sort -V | tail -n 1)"
        if [ -n "$candidate" ] && [ -x "$candidate/bin/python" ]; then
            echo "$candidate/bin/python"
            return 0
        fi
    fi
    return 1
}

PYTHON310="$(_find_python310)" || {
    _say "Python 3.10 is required (Rasa 3.6 does not run on newer Pythons)."
    _say "Install it (for example: pyenv install 3.10.13) or point FIRSTLINE_PYTHON at it."
    exit 1
}

_lock_key="$(cat "$FIRSTLINE_ROOT/requirements.lock" "$FIRSTLINE_ROOT/.python-version" | sha256sum | cut -c1-16)"
FIRSTLINE_VENV="${FIRSTLINE_VENV:-$FIRSTLINE_CACHE/venv-$_lock_key}"
export FIRSTLINE_VENV

if [ ! -f "$FIRSTLINE_VENV/.complete" ]; then
    _say "Installing dependencies into $FIRSTLINE_VENV (first run only; TensorFlow makes this take a few minutes)"
    rm -rf "$FIRSTLINE_VENV"
    mkdir -p "$FIRSTLINE_CACHE"
    "$PYTHON310" -m venv "$FIRSTLINE_VENV"
    "$FIRSTLINE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
    VIRTUAL_ENV="$FIRSTLINE_VENV" "$FIRSTLINE_VENV/bin/uv" pip sync --python "$FIRSTLINE_VENV/bin/python" \
        "$FIRSTLINE_ROOT/requirements.lock"
    touch "$FIRSTLINE_VENV/.complete"
    _say "Dependencies installed"
fi

# Byte-compile the dependencies once. Where PYTHONDONTWRITEBYTECODE is set (CI images often set it)
# Python would otherwise recompile TensorFlow and Rasa from source on every start: about 10 s more
# per command, and a screenful of third-party SyntaxWarnings each time.
if [ ! -f "$FIRSTLINE_VENV/.compiled" ]; then
    _say "Byte-compiling the dependencies (first run only)"
    "$FIRSTLINE_VENV/bin/python" -m compileall -q -j 0 \
        "$("$FIRSTLINE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        >/dev/null 2>&1 || true
    touch "$FIRSTLINE_VENV/.compiled"
fi

# The project is installed (for the `firstline` console script) into a venv that several checkouts
# may share, so the install records which checkout it points at and is redone when that changes;
# PYTHONPATH makes this checkout's code win even while another checkout's run is in progress.
_installed_root="$(cat "$FIRSTLINE_VENV/.project-root" 2>/dev/null || true)"
if [ "$_installed_root" != "$FIRSTLINE_ROOT" ] || [ "$FIRSTLINE_ROOT/pyproject.toml" -nt "$FIRSTLINE_VENV/.project-root" ]; then
    VIRTUAL_ENV="$FIRSTLINE_VENV" "$FIRSTLINE_VENV/bin/uv" pip install --quiet --no-deps \
        --python "$FIRSTLINE_VENV/bin/python" -e "$FIRSTLINE_ROOT"
    echo "$FIRSTLINE_ROOT" > "$FIRSTLINE_VENV/.project-root"
fi
export PYTHONPATH="$FIRSTLINE_ROOT${PYTHONPATH:+:$PYTHONPATH}"

export PATH="$FIRSTLINE_VENV/bin:$PATH"
# Rasa and TensorFlow are chatty and phone home by default; neither is wanted here.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export RASA_TELEMETRY_ENABLED=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1
