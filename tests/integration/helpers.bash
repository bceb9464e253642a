# helpers.bash — what every integration test shares: the binary under test, a fresh store per
# test, fixture trees and build specs, static hello binaries for amd64 and arm64 (built once per
# file), store snapshots that prove a failed command changed nothing, and small assertions that
# print what they saw when they fail.
#
# Each .bats file does:
#   load helpers
#   setup_file() { lana_setup_file; }
#   setup() { lana_setup; }
#
# Environment: LANA_IMG (the binary) and LANA_SRC (the source tree) are set by meson; run by hand
# they default to the usual build directory of this checkout.

bats_require_minimum_version 1.5.0

: "${LANA_SRC:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${LANA_IMG:=$LANA_SRC/build/lana-img}"
export LANA_SRC LANA_IMG

SHA256_RE='^sha256:[0-9a-f]{64}$'
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_LAYER=application/vnd.oci.image.layer.v1.tar
ANNOT_COMPRESSION=org.lana-img.compression

# ---- setup ----

# Compiles the hello binaries once per file. A missing cross compiler is not an error here: tests
# that need the binary call need_hello, which skips with the reason.
lana_setup_file() {
        [ -x "$LANA_IMG" ] || {
                echo "# lana-img binary not found at $LANA_IMG (run ninja -C build)" >&3
                return 1
        }
        local dir="$BATS_FILE_TMPDIR/hello"
        mkdir -p "$dir"
        cat >"$dir/hello.c" <<'EOF'
#include <stdio.h>
int main(void)
{
        puts("hello from lana-img tests");
        return 0;
}
EOF
        local host_cc=
        case "$(uname -m)" in
        x86_64) host_cc=gcc ;;
        *) host_cc=x86_64-linux-gnu-gcc ;;
        esac
        if command -v "$host_cc" >/dev/null 2>&1; then
                "$host_cc" -static -O1 -o "$dir/hello-amd64" "$dir/hello.c" 2>"$dir/amd64.log" ||
                        rm -f "$dir/hello-amd64"
        fi
        local arm_cc=aarch64-linux-gnu-gcc
        [ "$(uname -m)" = aarch64 ] && arm_cc=gcc
        if command -v "$arm_cc" >/dev/null 2>&1; then
                "$arm_cc" -static -O1 -o "$dir/hello-arm64" "$dir/hello.c" 2>"$dir/arm64.log" ||
                        rm -f "$dir/hello-arm64"
        fi
        export HELLO_DIR="$dir"
}

# Per test: an empty work dir as cwd, a store path that does not exist yet, and an environment
# that cannot leak into the build (default store, epoch, rootfs override).
lana_setup() {
        unset LANA_IMG_ROOT SOURCE_DATE_EPOCH LANA_IMG_ROOTFS
        export TZ=UTC LC_ALL=C
        umask 022
        cd "$BATS_TEST_TMPDIR"
        export WORK="$BATS_TEST_TMPDIR"
        export ROOT="$BATS_TEST_TMPDIR/store"
        export HELLO_AMD64="$HELLO_DIR/hello-amd64" HELLO_ARM64="$HELLO_DIR/hello-arm64"
}

# lana ARGS...: the binary against this test's store.
lana() {
        "$LANA_IMG" --root "$ROOT" "$@"
}

skip_unless() {
        local cmd
        for cmd in "$@"; do
                command -v "$cmd" >/dev/null 2>&1 || skip "$cmd is not installed"
        done
}

skip_unless_root() {
        [ "$(id -u)" = 0 ] || skip "needs root"
}

need_hello() {
        local arch
        for arch in "$@"; do
                [ -x "$HELLO_DIR/hello-$arch" ] ||
                        skip "no static $arch hello binary (compiler missing: see $HELLO_DIR/$arch.log)"
        done
}

# ---- fixtures ----

# make_fixture DIR [reverse]: the standard source tree. With "reverse" the same tree is created
# in the opposite order (readdir order differs; hard links still need their target first).
#   conf/app.toml, conf/hard (hard link to app.toml), conf/link -> app.toml (symlink)
#   conf/sub/b.txt, conf/sub-x.txt, conf/sub.txt (bytewise order: sub, sub-x.txt, sub.txt, sub/)
#   conf/ünï cødé.txt, a path longer than 100 bytes (PAX), an executable script
#   target/{x86_64,aarch64}-unknown-linux-musl/release/hello (when the binaries exist)
make_fixture() {
        local dir=$1 order=${2:-forward}
        local long="conf/$(printf 'a%.0s' {1..60})/$(printf 'b%.0s' {1..60})/$(printf 'c%.0s' {1..40}).txt"
        local ops=(
                "file|conf/app.toml|port = 8080\nname = \"lana\"\n"
                "file|conf/sub/b.txt|b\n"
                "file|conf/sub-x.txt|sub-x\n"
                "file|conf/sub.txt|sub.txt\n"
                "file|conf/ünï cødé.txt|unicode\n"
                "file|$long|long path\n"
                "exec|conf/run.sh|#!/bin/sh\necho run\n"
                "symlink|conf/link|app.toml"
                "dir|conf/empty"
        )
        [ -x "$HELLO_DIR/hello-amd64" ] &&
                ops+=("copy|target/x86_64-unknown-linux-musl/release/hello|$HELLO_DIR/hello-amd64")
        [ -x "$HELLO_DIR/hello-arm64" ] &&
                ops+=("copy|target/aarch64-unknown-linux-musl/release/hello|$HELLO_DIR/hello-arm64")
        local n=${#ops[@]} i idx
        mkdir -p "$dir"
        for ((i = 0; i < n; i++)); do
                if [ "$order" = reverse ]; then idx=$((n - 1 - i)); else idx=$i; fi
                local kind path arg
                IFS='|' read -r kind path arg <<<"${ops[$idx]}"
                case "$kind" in
                dir) mkdir -p "$dir/$path" ;;
                file | exec)
                        mkdir -p "$(dirname "$dir/$path")"
                        printf "$arg" >"$dir/$path"
                        [ "$kind" = exec ] && chmod +x "$dir/$path"
                        ;;
                symlink)
                        mkdir -p "$(dirname "$dir/$path")"
                        ln -s "$arg" "$dir/$path"
                        ;;
                copy)
                        mkdir -p "$(dirname "$dir/$path")"
                        cp "$arg" "$dir/$path"
                        ;;
                esac
        done
        ln "$dir/conf/app.toml" "$dir/conf/hard"
}

# write_spec FILE: the spec from stdin.
write_spec() {
        mkdir -p "$(dirname "$1")"
        cat >"$1"
}

# app_spec DIR [PLATFORMS]: an examples/api-like spec on the rootfs base.
app_spec() {
        local dir=$1 plats=${2:-}
        {
                echo "image: registry.example.com/lana/app"
                echo 'tags: [latest, "0.1.0"]'
                echo "base: rootfs"
                [ -n "$plats" ] && echo "platforms: [$plats]"
                cat <<'EOF'
compression: gzip
layers:
  - name: config
    files:
      - src: conf/
        dst: /etc/lana/
        mode: "0640"
  - name: app
    files:
      - src: target/{rust_target}/release/hello
        dst: /bin/hello
        mode: "0755"
config:
  entrypoint: [/bin/hello]
  cmd: [serve, --verbose]
  env: {LANA_HOME: /lana, GREETING: "hello world"}
  user: "65532:65532"
  workdir: /lana
  expose: [5253/tcp, "53/udp"]
  labels: {org.opencontainers.image.source: "https://example.com/lana", tier: backend}
  stop_signal: SIGTERM
annotations: {org.opencontainers.image.revision: example}
EOF
        } >"$dir/lana-img.yaml"
}

# small_spec DIR NAME: a one-file image on scratch (fast; used to prime stores).
small_spec() {
        local dir=$1 name=$2
        mkdir -p "$dir"
        printf '%s\n' "$name" >"$dir/data.txt"
        write_spec "$dir/lana-img.yaml" <<EOF
image: $name
layers:
  - name: data
    files:
      - src: data.txt
        dst: /data.txt
EOF
}

# ---- store and layout inspection ----

# store_snapshot [DIR]: every path under the store with type and mode, then every file's sha256.
# Equal snapshots before and after a command mean it changed nothing.
store_snapshot() {
        local root=${1:-$ROOT}
        (
                cd "$root" || exit 1
                find . -printf '%y %m %P\n' | LC_ALL=C sort
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
        )
}

# blob LAYOUT DIGEST: path of a blob file.
blob() {
        printf '%s/blobs/sha256/%s\n' "$1" "${2#sha256:}"
}

# jblob LAYOUT DIGEST JQ-FILTER...: jq over a JSON blob.
jblob() {
        local l=$1 d=$2
        shift 2
        jq -r "$@" "$(blob "$l" "$d")"
}

# manifest_of LAYOUT DIGEST PLATFORM: the manifest digest for PLATFORM ("amd64") when DIGEST is
# an index, else DIGEST itself.
manifest_of() {
        local l=$1 d=$2 arch=$3
        local mt
        mt=$(jblob "$l" "$d" .mediaType)
        if [ "$mt" = "$MT_INDEX" ]; then
                jblob "$l" "$d" --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest'
        else
                echo "$d"
        fi
}

# layout_fingerprint LAYOUT: index.json plus the name and hash of every blob. Two layouts with
# equal fingerprints hold byte-identical images.
layout_fingerprint() {
        local l=$1
        echo "index.json $(sha256sum <"$l/index.json" | cut -d' ' -f1)"
        (cd "$l/blobs/sha256" && find . -maxdepth 1 -type f -printf '%P\n' | LC_ALL=C sort |
                xargs -r sha256sum)
}

# verify_blob_names LAYOUT: every blob's sha256 equals its file name.
verify_blob_names() {
        local l=$1 f name sum bad=0 count=0
        for f in "$l"/blobs/sha256/*; do
                name=${f##*/}
                sum=$(sha256sum "$f" | cut -d' ' -f1)
                count=$((count + 1))
                if [ "$sum" != "$name" ]; then
                        echo "blob $name hashes to $sum"
                        bad=1
                fi
        done
        [ "$count" -gt 0 ] || {
                echo "no blobs in $l"
                return 1
        }
        return $bad
}

# ---- assertions (print what they saw) ----

show_run() {
        echo "status: $status"
        echo "stdout: ${output-}"
        echo "stderr: ${stderr-}"
}

assert_status() {
        if [ "$status" -ne "$1" ]; then
                echo "expected exit status $1"
                show_run
                return 1
        fi
}

# assert_match STRING REGEX
assert_match() {
        if ! [[ "$1" =~ $2 ]]; then
                echo "expected to match: $2"
                echo "actual: $1"
                return 1
        fi
}

assert_contains() {
        if [[ "$1" != *"$2"* ]]; then
                echo "expected to contain: $2"
                echo "actual: $1"
                return 1
        fi
}

assert_not_contains() {
        if [[ "$1" == *"$2"* ]]; then
                echo "expected not to contain: $2"
                echo "actual: $1"
                return 1
        fi
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
        if [ "$1" != "$2" ]; then
                echo "${3:-value} differs"
                echo "expected: $2"
                echo "actual:   $1"
                return 1
        fi
}

# assert_same_text A B WHAT: equal multi-line texts, with a diff when not.
assert_same_text() {
        if [ "$1" != "$2" ]; then
                echo "${3:-texts} differ:"
                diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") || true
                return 1
        fi
}

# build_ok ARGS...: lana build ARGS, must succeed and print one digest; sets DIGEST.
build_ok() {
        run --separate-stderr "$LANA_IMG" --root "$ROOT" build "$@"
        if [ "$status" -ne 0 ]; then
                echo "build $* failed"
                show_run
                return 1
        fi
        assert_match "$output" "$SHA256_RE" || return 1
        DIGEST=$output
}

# One-line error on stderr, nothing on stdout.
assert_one_line_error() {
        local lines
        lines=$(printf '%s\n' "$stderr" | grep -c '')
        if [ "$lines" -ne 1 ] || [[ "$stderr" != lana-img* ]] || [ -n "$output" ]; then
                echo "expected exactly one 'lana-img...' line on stderr and nothing on stdout"
                show_run
                return 1
        fi
}

# layers LAYOUT MANIFEST-DIGEST: one "mediaType digest" line per layer, in order.
layers() {
        jblob "$1" "$2" '.layers[] | "\(.mediaType) \(.digest)"'
}

# config_of LAYOUT MANIFEST-DIGEST: the config digest.
config_of() {
        jblob "$1" "$2" .config.digest
}

# layer_tar LAYOUT MEDIATYPE DIGEST: the layer's uncompressed tar on stdout.
layer_tar() {
        local f
        f=$(blob "$1" "$3")
        case "$2" in
        *+gzip) gzip -dc "$f" ;;
        *+zstd) zstd -dcq "$f" ;;
        *) cat "$f" ;;
        esac
}

# layer_listing LAYOUT MANIFEST-DIGEST N: `tar -tv` of layer N (0-based), numeric ids, UTC.
layer_listing() {
        local mt d
        read -r mt d < <(layers "$1" "$2" | sed -n "$(($3 + 1))p")
        [ -n "$d" ] || {
                echo "manifest $2 has no layer $3" >&2
                return 1
        }
        layer_tar "$1" "$mt" "$d" | TZ=UTC tar -tv --numeric-owner --full-time --quoting-style=literal -f -
}

# assert_line TEXT ERE: some line of TEXT matches ERE (grep -E).
assert_line() {
        if ! printf '%s\n' "$1" | grep -Eq -- "$2"; then
                echo "no line matches: $2"
                echo "in:"
                printf '%s\n' "$1"
                return 1
        fi
}
