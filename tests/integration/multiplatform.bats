#!/usr/bin/env bats
# multiplatform.bats — one spec, several platforms: an OCI index whose manifests carry their
# platform, per-platform sources through {rust_target}, and the ELF check that stops an x86-64
# binary from shipping in the arm64 image (or the reverse) before anything is written.

load helpers

setup_file() { lana_setup_file; }
setup() {
        lana_setup
        need_hello amd64 arm64
        make_fixture "$WORK/ctx"
        app_spec "$WORK/ctx" "linux/amd64, linux/arm64"
}

AMD_BIN=target/x86_64-unknown-linux-musl/release/hello
ARM_BIN=target/aarch64-unknown-linux-musl/release/hello

# hello_in LAYOUT MANIFEST: /bin/hello extracted from the image's last layer, to stdout.
hello_in() {
        local mt d
        read -r mt d < <(layers "$1" "$2" | tail -1)
        layer_tar "$1" "$mt" "$d" | tar -xOf - bin/hello
}

@test "two platforms give an index of two manifests with platform fields and matching configs" {
        build_ok -q ctx
        local idx=$DIGEST
        local l="$ROOT/oci"
        assert_eq "$(jblob "$l" "$idx" .mediaType)" "$MT_INDEX" "top mediaType"
        assert_eq "$(jblob "$l" "$idx" '.manifests | length')" 2 manifests
        assert_eq "$(jblob "$l" "$idx" -c '[.manifests[] | {mediaType, platform}]')" \
                "[{\"mediaType\":\"$MT_MANIFEST\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},{\"mediaType\":\"$MT_MANIFEST\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]" \
                "manifest descriptors"
        assert_eq "$(jblob "$l" "$idx" -r '.annotations["org.opencontainers.image.revision"]')" example "index annotation"
        local arch m cfg
        for arch in amd64 arm64; do
                m=$(manifest_of "$l" "$idx" "$arch")
                assert_match "$m" "$SHA256_RE"
                # the descriptor's size is the manifest's
                assert_eq "$(jblob "$l" "$idx" -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .size')" \
                        "$(stat -c %s "$(blob "$l" "$m")")" "size of the $arch manifest"
                cfg=$(config_of "$l" "$m")
                assert_eq "$(jblob "$l" "$cfg" .architecture)" "$arch" "config architecture of $arch"
                assert_eq "$(jblob "$l" "$cfg" .os)" linux "config os of $arch"
                assert_eq "$(jblob "$l" "$cfg" -c .config.Entrypoint)" '["/bin/hello"]' "Entrypoint of $arch"
                hello_in "$l" "$m" | cmp - "$HELLO_DIR/hello-$arch"
        done
        [ "$(manifest_of "$l" "$idx" amd64)" != "$(manifest_of "$l" "$idx" arm64)" ]
        # the shared layers (rootfs, config) are the same blobs
        assert_eq "$(jblob "$l" "$(manifest_of "$l" "$idx" amd64)" -c '.layers[0:2]')" \
                "$(jblob "$l" "$(manifest_of "$l" "$idx" arm64)" -c '.layers[0:2]')" "shared layers"

        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -c '[.[].platforms] | unique')" '[["linux/amd64","linux/arm64"]]' platforms
        assert_eq "$(echo "$output" | jq -r '[.[].digest] | unique | join(" ")')" "$idx" digest
        run --separate-stderr lana images
        assert_line "$output" '^registry.example.com/lana/app:latest +sha256:[0-9a-f]{12} +linux/amd64,linux/arm64 '

        run --separate-stderr lana inspect registry.example.com/lana/app:0.1.0
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$idx" "inspect digest"
        assert_eq "$(echo "$output" | jq -c '[.manifests[] | .config.architecture]')" '["amd64","arm64"]' "inspect architectures"
        assert_eq "$(echo "$output" | jq -c '[.manifests[] | .platform.architecture]')" '["amd64","arm64"]' "inspect platforms"
        run --separate-stderr lana fsck
        assert_status 0
}

@test "an arm64 binary at the amd64 path fails with exit 3, naming the file; the store is unchanged" {
        build_ok -q ctx
        local before
        before=$(store_snapshot)
        cp "$HELLO_ARM64" "ctx/$AMD_BIN"
        cp "$HELLO_AMD64" "ctx/$ARM_BIN"
        run --separate-stderr lana build -q ctx
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "$WORK/ctx/$AMD_BIN"
        assert_contains "$stderr" "platform is linux/amd64"
        assert_contains "$stderr" "AArch64"
        assert_match "$stderr" 'ctx/lana-img\.yaml:[0-9]+: layers\[1\]\.files\[0\]'
        assert_same_text "$(store_snapshot)" "$before" "store after the failed build"
}

@test "a bad binary for the second platform fails before the first platform writes anything" {
        # a store with nothing of this spec in it: any new blob would show
        small_spec "$WORK/small" example.com/t/small
        build_ok -q --platform linux/amd64 small
        local before
        before=$(store_snapshot)
        cp "$HELLO_AMD64" "ctx/$ARM_BIN"
        run --separate-stderr lana build -q ctx
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "$WORK/ctx/$ARM_BIN"
        assert_contains "$stderr" "x86-64"
        assert_contains "$stderr" "platform is linux/arm64"
        assert_same_text "$(store_snapshot)" "$before" "store after the failed build"
}

@test "--platform linux/arm64 overrides the spec's platforms" {
        build_ok -q --platform linux/arm64 ctx
        local l="$ROOT/oci"
        assert_eq "$(jblob "$l" "$DIGEST" .mediaType)" "$MT_MANIFEST" "one platform gives a manifest"
        assert_eq "$(jblob "$l" "$(config_of "$l" "$DIGEST")" .architecture)" arm64 architecture
        hello_in "$l" "$DIGEST" | cmp - "$HELLO_ARM64"
        run --separate-stderr lana images --format json
        assert_eq "$(echo "$output" | jq -c '[.[].platforms] | unique')" '[["linux/arm64"]]' platforms
        # the override ignores a broken binary of a platform it does not build
        cp "$HELLO_ARM64" "ctx/$AMD_BIN"
        build_ok -q --platform linux/arm64 ctx
}

@test "--platform builds several platforms for a spec that names none" {
        sed -i '/^platforms:/d' ctx/lana-img.yaml
        ! grep -q platforms ctx/lana-img.yaml
        build_ok -q ctx
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" .mediaType)" "$MT_MANIFEST" "no platforms: one manifest"
        build_ok -q --platform linux/arm64,linux/amd64 ctx
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -c '[.manifests[].platform.architecture]')" '["arm64","amd64"]' "platforms in --platform order"
}

@test "a multi-platform base gives each platform the base's layers for it" {
        build_ok -q ctx
        local parent=$DIGEST
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<'EOF'
image: example.com/t/child
base: registry.example.com/lana/app:0.1.0
platforms: [linux/arm64, linux/amd64]
layers:
  - files:
      - src: child.txt
        dst: /child.txt
EOF
        build_ok -q child
        local child=$DIGEST arch
        for arch in amd64 arm64; do
                local pm cm
                pm=$(manifest_of "$ROOT/oci" "$parent" "$arch")
                cm=$(manifest_of "$ROOT/oci" "$child" "$arch")
                assert_eq "$(jblob "$ROOT/oci" "$cm" -c '.layers[0:3]')" "$(jblob "$ROOT/oci" "$pm" -c .layers)" "base layers of $arch"
                assert_eq "$(jblob "$ROOT/oci" "$(config_of "$ROOT/oci" "$cm")" .architecture)" "$arch" "architecture"
        done
}

@test "a base without the platform is invalid input" {
        build_ok -q --platform linux/amd64 ctx
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<'EOF'
image: example.com/t/child
base: registry.example.com/lana/app:0.1.0
layers:
  - files:
      - src: child.txt
        dst: /child.txt
EOF
        local before
        before=$(store_snapshot)
        run --separate-stderr lana build -q --platform linux/arm64 child
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "registry.example.com/lana/app:0.1.0"
        assert_contains "$stderr" "arm64"
        assert_same_text "$(store_snapshot)" "$before" "store after the failed build"
}

@test "docker-archive: refuses two platforms, takes one" {
        run --separate-stderr lana build -q -o "docker-archive:$WORK/d.tar" ctx
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "docker-archive"
        [ ! -e "$WORK/d.tar" ]
        build_ok -q --platform linux/arm64 -o "docker-archive:$WORK/d.tar" ctx
        [ -s "$WORK/d.tar" ]
}

# elf_header FILE CLASS DATA MACHINE: a 64-byte file that starts with an ELF identification
# (CLASS 1|2, DATA 1 little-endian | 2 big-endian) and e_machine MACHINE, the rest zeros.
elf_header() {
        python3 - "$@" <<'PY'
import struct, sys
path, cls, data, machine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ident = b"\x7fELF" + bytes([cls, data, 1]) + bytes(9)
order = "<" if data == 1 else ">"
with open(path, "wb") as f:
    f.write(ident + struct.pack(order + "HH", 2, machine) + bytes(44))
PY
}

@test "ELF check: in a tree of 3000 files the first wrong binary in image order is named, whatever --jobs" {
        mkdir -p "$WORK/many/tree"
        local i
        for ((i = 0; i < 3000; i++)); do
                printf '%d\n' "$i" >"$WORK/many/tree/f$(printf %04d "$i")"
        done
        # two wrong binaries: f1500 (AArch64) comes before f2500 (big-endian S/390) in the image
        elf_header "$WORK/many/tree/f1500" 2 1 183
        elf_header "$WORK/many/tree/f2500" 2 2 22
        write_spec "$WORK/many/lana-img.yaml" <<'SPEC'
image: example.com/t/many
platforms: [linux/amd64]
layers:
  - name: tree
    files:
      - src: tree/
        dst: /tree/
SPEC
        local jobs
        for jobs in 1 2 8; do
                run --separate-stderr lana build -q --jobs "$jobs" many
                assert_status 3
                assert_one_line_error
                assert_contains "$stderr" "$WORK/many/tree/f1500 is an ELF binary for AArch64"
        done
        # a big-endian header is read in its own byte order
        rm "$WORK/many/tree/f1500"
        run --separate-stderr lana build -q --jobs 2 many
        assert_status 3
        assert_contains "$stderr" "f2500 is an ELF binary for S/390 (s390x), but the platform is linux/amd64"
        run --separate-stderr lana build -q --platform linux/s390x many
        assert_status 0
        # ELF magic with a truncated or nonsense identification
        printf '\177ELF\002' >"$WORK/many/tree/f2500"
        run --separate-stderr lana build -q many
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "f2500: malformed ELF header"
        elf_header "$WORK/many/tree/f2500" 3 1 62
        run --separate-stderr lana build -q many
        assert_status 3
        assert_contains "$stderr" "malformed ELF header"
        elf_header "$WORK/many/tree/f2500" 2 1 62
        build_ok -q many
}
