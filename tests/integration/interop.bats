#!/usr/bin/env bats
# interop.bats — what lana-img writes, read by the peers users run next: skopeo, umoci, gzip,
# pigz, zstd and tar. Nothing here trusts lana-img to read its own output.

load helpers

setup_file() { lana_setup_file; }
setup() {
        lana_setup
        need_hello amd64
        make_fixture "$WORK/ctx"
        app_spec "$WORK/ctx"
}

@test "skopeo inspect reads the store, oci:DIR and oci-archive: outputs" {
        skip_unless skopeo
        build_ok -q --platform linux/amd64 ctx
        local d=$DIGEST
        run --separate-stderr skopeo inspect "oci:$ROOT/oci:registry.example.com/lana/app:0.1.0"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Digest)" "$d" "store digest"
        assert_eq "$(echo "$output" | jq -r .Architecture)/$(echo "$output" | jq -r .Os)" amd64/linux platform
        assert_eq "$(echo "$output" | jq -r .Created)" "1970-01-01T00:00:00Z" Created
        assert_eq "$(echo "$output" | jq -r '.Labels.tier')" backend Labels
        assert_eq "$(echo "$output" | jq -r '.Layers | length')" 3 Layers

        build_ok -q --platform linux/amd64 -o "oci:$WORK/out" ctx
        assert_eq "$DIGEST" "$d" "oci: digest"
        run --separate-stderr skopeo inspect "oci:$WORK/out:0.1.0"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Digest)" "$d" "oci: digest through skopeo"
        run --separate-stderr skopeo inspect --raw "oci:$WORK/out:latest"
        assert_status 0
        assert_eq "sha256:$(printf '%s' "$output" | sha256sum | cut -d' ' -f1)" "$d" "raw manifest hash"

        build_ok -q --platform linux/amd64 -o "oci-archive:$WORK/img.tar" ctx
        run --separate-stderr skopeo inspect "oci-archive:$WORK/img.tar:latest"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Digest)" "$d" "oci-archive digest through skopeo"
}

@test "skopeo inspect --raw reads a multi-platform index; each platform resolves" {
        skip_unless skopeo
        need_hello arm64
        build_ok -q --platform linux/amd64,linux/arm64 -o "oci:$WORK/out" ctx
        local idx=$DIGEST
        run --separate-stderr skopeo inspect --raw "oci:$WORK/out:latest"
        assert_status 0
        local raw=$output
        assert_eq "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" "$idx" "raw index hash"
        assert_eq "$(echo "$raw" | jq -r .mediaType)" "$MT_INDEX" mediaType
        assert_eq "$(echo "$raw" | jq -c '[.manifests[].platform]')" \
                '[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux"}]' platforms
        local arch want
        for arch in amd64 arm64; do
                want=$(echo "$raw" | jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest')
                run --separate-stderr skopeo inspect --override-os linux --override-arch "$arch" "oci:$WORK/out:latest"
                assert_status 0
                assert_eq "$(echo "$output" | jq -r .Architecture)" "$arch" "Architecture for $arch"
                # skopeo reports the index digest and the chosen manifest's layers
                assert_eq "$(echo "$output" | jq -r .Digest)" "$idx" "Digest for $arch"
                assert_eq "$(echo "$output" | jq -c .Layers)" "$(jblob "$WORK/out" "$want" -c '[.layers[].digest]')" "layers for $arch"
        done
        # the same index in the store
        build_ok -q --platform linux/amd64,linux/arm64 ctx
        assert_eq "$DIGEST" "$idx" "store digest"
        run --separate-stderr skopeo inspect --raw "oci:$ROOT/oci:registry.example.com/lana/app:latest"
        assert_status 0
        assert_eq "$output" "$raw" "raw index from the store"
}

@test "skopeo copy oci:DIR:TAG dir:X keeps the manifest and blobs byte for byte" {
        skip_unless skopeo
        build_ok -q --platform linux/amd64 -o "oci:$WORK/out" ctx
        run --separate-stderr skopeo copy "oci:$WORK/out:0.1.0" "dir:$WORK/x"
        assert_status 0
        assert_eq "sha256:$(sha256sum <"$WORK/x/manifest.json" | cut -d' ' -f1)" "$DIGEST" "copied manifest"
        local d
        for d in $(jblob "$WORK/out" "$DIGEST" '.config.digest, .layers[].digest'); do
                cmp "$WORK/x/${d#sha256:}" "$(blob "$WORK/out" "$d")"
        done
        # and back into a layout, which lana-img checks and imports
        run --separate-stderr skopeo copy "dir:$WORK/x" "oci:$WORK/back:again"
        assert_status 0
        run --separate-stderr lana fsck "oci:$WORK/back"
        assert_status 0
        run --separate-stderr lana tag "oci:$WORK/back:again" example.com/t/back:1
        assert_status 0
        run --separate-stderr lana inspect example.com/t/back:1
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$DIGEST" "round-trip digest"
}

@test "umoci unpack --rootless: files have the declared modes and bytes" {
        skip_unless umoci
        build_ok -q --platform linux/amd64 -o "oci:$WORK/out" ctx
        run umoci unpack --rootless --image "$WORK/out:0.1.0" "$WORK/bundle"
        assert_status 0
        local r="$WORK/bundle/rootfs"
        # modes
        assert_eq "$(stat -c %a "$r/tmp")" 1777 "mode of /tmp"
        assert_eq "$(stat -c %a "$r/home/nonroot")" 700 "mode of /home/nonroot"
        assert_eq "$(stat -c %a "$r/root")" 700 "mode of /root"
        assert_eq "$(stat -c %a "$r/etc/passwd")" 644 "mode of /etc/passwd"
        assert_eq "$(stat -c %a "$r/bin/hello")" 755 "mode of /bin/hello"
        assert_eq "$(stat -c %a "$r/etc/lana")" 755 "mode of /etc/lana"
        assert_eq "$(stat -c %a "$r/etc/lana/sub")" 755 "mode of /etc/lana/sub"
        local f
        for f in app.toml hard run.sh sub/b.txt sub-x.txt sub.txt "ünï cødé.txt"; do
                assert_eq "$(stat -c %a "$r/etc/lana/$f")" 640 "mode of /etc/lana/$f"
                cmp "$r/etc/lana/$f" "$WORK/ctx/conf/$f"
        done
        # bytes
        cmp "$r/bin/hello" "$HELLO_AMD64"
        local long
        long=$(cd "$WORK/ctx/conf" && find . -name 'ccc*.txt' -printf '%P\n')
        [ ${#long} -gt 100 ]
        cmp "$r/etc/lana/$long" "$WORK/ctx/conf/$long"
        for f in etc/passwd etc/group etc/nsswitch.conf; do
                cmp "$r/$f" "$LANA_SRC/rootfs/$f"
        done
        # kinds
        [ -L "$r/etc/lana/link" ]
        assert_eq "$(readlink "$r/etc/lana/link")" app.toml "symlink target"
        [ -f "$r/etc/lana/hard" ]
        [ ! -L "$r/etc/lana/hard" ]
        [ -d "$r/etc/lana/empty" ]
        # the runtime config umoci derived from the image config
        local cfg="$WORK/bundle/config.json"
        assert_eq "$(jq -c .process.args "$cfg")" '["/bin/hello","serve","--verbose"]' args
        assert_eq "$(jq -r .process.cwd "$cfg")" /lana cwd
        assert_contains "$(jq -c .process.env "$cfg")" '"LANA_HOME=/lana"'
        assert_contains "$(jq -c .process.env "$cfg")" '"GREETING=hello world"'
}

@test "umoci unpack as root applies the image's owners" {
        skip_unless umoci
        skip_unless_root
        build_ok -q --platform linux/amd64 -o "oci:$WORK/out" ctx
        run umoci unpack --image "$WORK/out:latest" "$WORK/bundle"
        assert_status 0
        local r="$WORK/bundle/rootfs"
        assert_eq "$(stat -c '%u:%g %a' "$r/home/nonroot")" "65532:65532 700" "/home/nonroot"
        assert_eq "$(stat -c '%u:%g %a' "$r/tmp")" "0:0 1777" "/tmp"
        assert_eq "$(stat -c '%u:%g %a' "$r/bin/hello")" "0:0 755" "/bin/hello"
}

@test "every blob's sha256 equals its file name (store and oci:DIR, all compressions)" {
        need_hello arm64
        build_ok -q --platform linux/amd64,linux/arm64 ctx
        build_ok -q --compression zstd -t example.com/t/zstd:1 --platform linux/amd64 ctx
        build_ok -q --compression none -t example.com/t/none:1 --platform linux/arm64 ctx
        verify_blob_names "$ROOT/oci"
        build_ok -q --platform linux/amd64,linux/arm64 --compression zstd -o "oci:$WORK/out" ctx
        verify_blob_names "$WORK/out"
        # and every descriptor's size is the file's size
        local l d size
        for l in "$ROOT/oci" "$WORK/out"; do
                while read -r d size; do
                        assert_eq "$(stat -c %s "$(blob "$l" "$d")")" "$size" "size of $d"
                done < <(for m in $(find "$l/blobs/sha256" -type f -size -64k); do
                        jq -r 'select(.layers) | .config, .layers[] | "\(.digest) \(.size)"' "$m" 2>/dev/null || true
                done)
        done
}

@test "gzip layers decompress with gzip and pigz to their diff_ids" {
        skip_unless gzip pigz
        build_ok -q --platform linux/amd64 ctx
        local cfg i=0 mt d
        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        while read -r mt d; do
                assert_eq "$mt" "$MT_LAYER+gzip" "mediaType"
                local want
                want=$(jblob "$ROOT/oci" "$cfg" ".rootfs.diff_ids[$i]")
                gzip -t "$(blob "$ROOT/oci" "$d")"
                assert_eq "sha256:$(gzip -dc "$(blob "$ROOT/oci" "$d")" | sha256sum | cut -d' ' -f1)" "$want" "gzip -dc of layer $i"
                assert_eq "sha256:$(pigz -dc "$(blob "$ROOT/oci" "$d")" | sha256sum | cut -d' ' -f1)" "$want" "pigz -dc of layer $i"
                i=$((i + 1))
        done < <(layers "$ROOT/oci" "$DIGEST")
        assert_eq "$i" 3 "layers checked"
}

@test "a multi-block gzip layer (6 MiB random) decompresses with gzip and pigz" {
        skip_unless gzip pigz
        mkdir -p "$WORK/big"
        head -c $((6 * 1024 * 1024 + 7)) /dev/urandom >"$WORK/big/r.bin"
        # and a compressible part so blocks differ in kind
        yes lana-img | head -c $((3 * 1024 * 1024)) >"$WORK/big/y.txt"
        write_spec "$WORK/big/lana-img.yaml" <<'EOF'
image: example.com/t/big
layers:
  - files:
      - src: r.bin
        dst: /r.bin
      - src: y.txt
        dst: /y.txt
EOF
        build_ok -q --platform linux/amd64 big
        local mt d cfg
        read -r mt d < <(layers "$ROOT/oci" "$DIGEST")
        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        local want
        want=$(jblob "$ROOT/oci" "$cfg" '.rootfs.diff_ids[0]')
        assert_eq "sha256:$(gzip -dc "$(blob "$ROOT/oci" "$d")" | sha256sum | cut -d' ' -f1)" "$want" "gzip -dc"
        assert_eq "sha256:$(pigz -dc "$(blob "$ROOT/oci" "$d")" | sha256sum | cut -d' ' -f1)" "$want" "pigz -dc"
        gzip -dc "$(blob "$ROOT/oci" "$d")" | tar -xOf - r.bin | cmp - "$WORK/big/r.bin"
        gzip -dc "$(blob "$ROOT/oci" "$d")" | tar -xOf - y.txt | cmp - "$WORK/big/y.txt"
}

@test "zstd layers decompress with zstd to their diff_ids" {
        skip_unless zstd
        build_ok -q --platform linux/amd64 --compression zstd ctx
        local cfg i=0 mt d
        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        while read -r mt d; do
                assert_eq "$mt" "$MT_LAYER+zstd" "mediaType"
                zstd -tq "$(blob "$ROOT/oci" "$d")"
                assert_eq "sha256:$(zstd -dcq "$(blob "$ROOT/oci" "$d")" | sha256sum | cut -d' ' -f1)" \
                        "$(jblob "$ROOT/oci" "$cfg" ".rootfs.diff_ids[$i]")" "zstd -dc of layer $i"
                i=$((i + 1))
        done < <(layers "$ROOT/oci" "$DIGEST")
        assert_eq "$i" 3 "layers checked"
}

@test "tar -t lists every layer's paths sorted bytewise, parents first, each once" {
        build_ok -q --platform linux/amd64 ctx
        local i names sorted
        for i in 0 1 2; do
                names=$(layer_listing "$ROOT/oci" "$DIGEST" $i | sed -E 's/^.* [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} //; s/ -> .*$//; s,/$,,')
                sorted=$(printf '%s\n' "$names" | LC_ALL=C sort -u)
                assert_same_text "$names" "$sorted" "layer $i order"
                # every parent directory precedes its children
                local seen="" n p
                while IFS= read -r n; do
                        case "$n" in
                        */*)
                                p=${n%/*}
                                if [[ "$seen" != *$'\n'"$p"$'\n'* ]]; then
                                        echo "layer $i: $n comes before its parent $p"
                                        return 1
                                fi
                                ;;
                        esac
                        seen+=$'\n'"$n"$'\n'
                done <<<"$names"
        done
        # the bytewise order, not a locale's: sub < sub-x.txt < sub.txt < sub/b.txt
        names=$(layer_listing "$ROOT/oci" "$DIGEST" 1 | awk '{print $NF}' | grep '^etc/lana/sub' | sed 's,/$,,')
        assert_same_text "$names" "etc/lana/sub
etc/lana/sub-x.txt
etc/lana/sub.txt
etc/lana/sub/b.txt" "order of the sub* entries"
}

@test "tag exports a store image to oci:DIR:TAG for skopeo; rmi removes the name" {
        skip_unless skopeo
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana tag registry.example.com/lana/app:0.1.0 "oci:$WORK/exp:v1"
        assert_status 0
        run --separate-stderr skopeo inspect "oci:$WORK/exp:v1"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Digest)" "$DIGEST" "exported digest"
        verify_blob_names "$WORK/exp"
        run --separate-stderr lana rmi "oci:$WORK/exp:v1"
        assert_status 0
        assert_eq "$output" "untagged v1" "rmi output"
        assert_eq "$(jq -c .manifests "$WORK/exp/index.json")" "[]" "index after rmi"
}
