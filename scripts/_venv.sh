# Sourced by scripts/*: make sure .venv exists and holds this project with its dev and ray
# extras (ray: the tests start a local Ray cluster).
# A stamp of pyproject.toml's hash makes a second run skip pip entirely.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -e '.[dev,ray]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
