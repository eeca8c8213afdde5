#!/usr/bin/env bash
# One-command setup: system packages the grader needs (when root or sudo is available), then the Python
# packages of the course, the grader and the tests into the active Python environment.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(bubblewrap chromium)  # the grader's sandbox; headless browser for the site test
# The course hub (autograder hub start) runs JupyterHub's proxy, configurable-http-proxy, on Node.js: the
# distribution's Node.js and npm unless a Node.js is already installed.
command -v node >/dev/null 2>&1 || SYSTEM_PACKAGES+=(nodejs npm)
command -v node >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1 && SYSTEM_PACKAGES+=(npm)

install_system_packages() {
    local missing=()
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && { echo "setup: system packages present: ${SYSTEM_PACKAGES[*]}"; return; }
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: no apt-get here; install ${missing[*]} with your system's package manager (the grader's sandbox needs it)" >&2
        return
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "setup: not root and no passwordless sudo; skipping ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
            return
        fi
    fi
    echo "setup: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
}

install_proxy() {
    command -v configurable-http-proxy >/dev/null 2>&1 && { echo "setup: configurable-http-proxy present"; return; }
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup: no npm; the course hub needs configurable-http-proxy (npm install -g configurable-http-proxy)" >&2
        return
    fi
    # release 5 needs Node.js 20 or newer; Debian 12's Node.js 18 runs release 4.6
    local major version
    major=$(node -p 'process.versions.node.split(".")[0]')
    version=$([ "$major" -ge 20 ] && echo 5 || echo 4.6.3)
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: not root; the course hub needs: sudo npm install -g configurable-http-proxy@$version" >&2
        return
    fi
    echo "setup: installing configurable-http-proxy@$version (npm)"
    npm install -g --no-audit --no-fund --loglevel=error "configurable-http-proxy@$version"
}

install_system_packages
install_proxy
"$PYTHON" -m pip install --disable-pip-version-check -q -e ".[dev,site,bench]"
"$PYTHON" -c "import cnnlab, torch; from cnnlab.device import describe; print('setup: ok;', describe())"
