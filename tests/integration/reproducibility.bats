#!/usr/bin/env bats
# reproducibility.bats — the same spec and the same file contents give byte-identical images
# whatever the host adds around them: umask, time zone, locale, mtimes, creation order, thread
# count, store location, source directory. Every comparison covers the top digest, index.json
# and every blob.

load helpers

# repro_fixture DIR [reverse]: the standard tree plus a 5 MiB pseudo-random file (several
# compression blocks) and the spec for linux/amd64 + linux/arm64.
repro_fixture() {
        make_fixture "$1" "${2:-forward}"
        mkdir -p "$1/data"
        cp "$BATS_FILE_TMPDIR/random.bin" "$1/data/random.bin"
        app_spec "$1" "linux/amd64, linux/arm64"
        # a third layer with the big file
        sed -i 's|^config:$|  - name: data\n    files:\n      - src: data/random.bin\n        dst: /var/lib/lana/random.bin\n        mode: "0600"\nconfig:|' "$1/lana-img.yaml"
}

setup_file() {
        lana_setup_file
        [ -x "$HELLO_DIR/hello-amd64" ] && [ -x "$HELLO_DIR/hello-arm64" ] ||
                skip "needs static amd64 and arm64 hello binaries"
        head -c $((5 * 1024 * 1024 + 12345)) /dev/urandom >"$BATS_FILE_TMPDIR/random.bin"
        # the baseline: umask 022, UTC, C locale, default jobs
        (
                umask 022
                export HELLO_AMD64="$HELLO_DIR/hello-amd64" HELLO_ARM64="$HELLO_DIR/hello-arm64"
                repro_fixture "$BATS_FILE_TMPDIR/base/ctx"
                unset SOURCE_DATE_EPOCH LANA_IMG_ROOTFS LANA_IMG_ROOT
                TZ=UTC LC_ALL=C LANG=C "$LANA_IMG" --root "$BATS_FILE_TMPDIR/store" build -q -o "oci:$BATS_FILE_TMPDIR/base/out" \
                        "$BATS_FILE_TMPDIR/base/ctx" >"$BATS_FILE_TMPDIR/base/digest"
        )
        export BASE_CTX="$BATS_FILE_TMPDIR/base/ctx" BASE_OUT="$BATS_FILE_TMPDIR/base/out"
        BASE_DIGEST=$(<"$BATS_FILE_TMPDIR/base/digest")
        export BASE_DIGEST
}

setup() {
        lana_setup
        export LANG=C
}

# same_as_base DIGEST LAYOUT: the build gave the baseline's bytes.
same_as_base() {
        assert_eq "$1" "$BASE_DIGEST" "top digest" || return 1
        assert_same_text "$(layout_fingerprint "$2")" "$(layout_fingerprint "$BASE_OUT")" "index.json and blobs"
}

@test "baseline: an index of two platforms with a multi-block random layer" {
        assert_match "$BASE_DIGEST" "$SHA256_RE"
        assert_eq "$(jblob "$BASE_OUT" "$BASE_DIGEST" .mediaType)" "$MT_INDEX" "top mediaType"
        local m
        m=$(manifest_of "$BASE_OUT" "$BASE_DIGEST" amd64)
        assert_eq "$(jblob "$BASE_OUT" "$m" '.layers | length')" 4 "layers"
        # the random file does not compress: the layer is larger than 5 MiB
        local size
        size=$(jblob "$BASE_OUT" "$m" '.layers[3].size')
        [ "$size" -gt $((5 * 1024 * 1024)) ] || {
                echo "data layer is only $size bytes"
                return 1
        }
        verify_blob_names "$BASE_OUT"
}

@test "umask 077 for the sources and the build gives the same image" {
        (
                umask 077
                repro_fixture "$WORK/ctx"
                [ "$(stat -c %a "$WORK/ctx/conf/app.toml")" = 600 ]
                "$LANA_IMG" --root "$ROOT" build -q -o "oci:$WORK/out" "$WORK/ctx" >"$WORK/digest"
        )
        same_as_base "$(<"$WORK/digest")" "$WORK/out"
}

@test "TZ=Asia/Tokyo gives the same image, also with SOURCE_DATE_EPOCH" {
        TZ=Asia/Tokyo build_ok -q -o "oci:$WORK/out" "$BASE_CTX"
        same_as_base "$DIGEST" "$WORK/out"

        SOURCE_DATE_EPOCH=1700000000 TZ=UTC build_ok -q -o "oci:$WORK/utc" "$BASE_CTX"
        local utc=$DIGEST
        SOURCE_DATE_EPOCH=1700000000 TZ=Asia/Tokyo build_ok -q -o "oci:$WORK/tokyo" "$BASE_CTX"
        assert_eq "$DIGEST" "$utc" "digest with SOURCE_DATE_EPOCH under Asia/Tokyo"
        assert_same_text "$(layout_fingerprint "$WORK/tokyo")" "$(layout_fingerprint "$WORK/utc")" "blobs"
        local m cfg
        m=$(manifest_of "$WORK/tokyo" "$DIGEST" arm64)
        cfg=$(config_of "$WORK/tokyo" "$m")
        assert_eq "$(jblob "$WORK/tokyo" "$cfg" .created)" "2023-11-14T22:13:20Z" created
}

@test "LANG/LC_ALL=C.UTF-8 gives the same image as C" {
        locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' || skip "no C.UTF-8 locale"
        LANG=C.UTF-8 LC_ALL=C.UTF-8 build_ok -q -o "oci:$WORK/out" "$BASE_CTX"
        same_as_base "$DIGEST" "$WORK/out"
        # the non-ASCII name went in as the same bytes
        local m mt d
        m=$(manifest_of "$WORK/out" "$DIGEST" amd64)
        read -r mt d < <(layers "$WORK/out" "$m" | sed -n 2p)
        layer_tar "$WORK/out" "$mt" "$d" | tar --quoting-style=literal -tf - | grep -qx 'etc/lana/ünï cødé.txt'
}

@test "changed mtimes (touch -d) give the same image" {
        cp -a "$BASE_CTX" "$WORK/ctx"
        find "$WORK/ctx" -exec touch -h -d '2001-02-03 04:05:06' {} +
        touch -d '2030-01-01 00:00:00' "$WORK/ctx/conf/app.toml"
        [ "$(stat -c %Y "$WORK/ctx/conf/sub/b.txt")" != "$(stat -c %Y "$BASE_CTX/conf/sub/b.txt")" ]
        build_ok -q -o "oci:$WORK/out" "$WORK/ctx"
        same_as_base "$DIGEST" "$WORK/out"
}

@test "a tree created in reverse order in another directory gives the same image" {
        repro_fixture "$WORK/elsewhere/deeper/ctx" reverse
        build_ok -q -o "oci:$WORK/out" "$WORK/elsewhere/deeper/ctx"
        same_as_base "$DIGEST" "$WORK/out"
        # and from inside the directory, by relative path
        cd "$WORK/elsewhere/deeper/ctx"
        build_ok -q -o "oci:$WORK/out2" .
        same_as_base "$DIGEST" "$WORK/out2"
        cd "$WORK"
        build_ok -q -f elsewhere/deeper/ctx/lana-img.yaml -o "oci:$WORK/out3"
        same_as_base "$DIGEST" "$WORK/out3"
}

@test "--jobs 1 and --jobs 4 give the same gzip image" {
        build_ok -q --jobs 1 -o "oci:$WORK/j1" "$BASE_CTX"
        same_as_base "$DIGEST" "$WORK/j1"
        build_ok -q --jobs 4 -o "oci:$WORK/j4" "$BASE_CTX"
        same_as_base "$DIGEST" "$WORK/j4"
}

@test "--jobs 1 and --jobs 4 give the same zstd image, also across several zstd jobs" {
        # 24 MiB of random data spans several zstd multi-thread jobs
        cp -a "$BASE_CTX" "$WORK/ctx"
        head -c $((24 * 1024 * 1024)) /dev/urandom >"$WORK/ctx/data/random.bin"
        build_ok -q --compression zstd --jobs 1 -o "oci:$WORK/z1" "$WORK/ctx"
        local d1=$DIGEST
        build_ok -q --compression zstd --jobs 4 -o "oci:$WORK/z4" "$WORK/ctx"
        assert_eq "$DIGEST" "$d1" "zstd digest --jobs 4 vs 1"
        assert_same_text "$(layout_fingerprint "$WORK/z4")" "$(layout_fingerprint "$WORK/z1")" "zstd blobs"
}

@test "two stores at different --root hold the same blobs" {
        ROOT="$WORK/a/store" build_ok -q "$BASE_CTX"
        local a=$DIGEST
        ROOT="$WORK/b/elsewhere/store" build_ok -q "$BASE_CTX"
        assert_eq "$DIGEST" "$a" "digest in the second store"
        assert_eq "$a" "$BASE_DIGEST" "store vs oci: output"
        assert_same_text "$(layout_fingerprint "$WORK/b/elsewhere/store/oci")" "$(layout_fingerprint "$WORK/a/store/oci")" "stores"
        # the blobs are those of the oci: output
        assert_same_text "$(layout_fingerprint "$WORK/a/store/oci" | tail -n +2)" "$(layout_fingerprint "$BASE_OUT" | tail -n +2)" "store blobs vs oci: blobs"
}

@test "a different file content changes the digest (the comparison can fail)" {
        cp -a "$BASE_CTX" "$WORK/ctx"
        printf 'port = 8081\nname = "lana"\n' >"$WORK/ctx/conf/app.toml"
        build_ok -q -o "oci:$WORK/out" "$WORK/ctx"
        [ "$DIGEST" != "$BASE_DIGEST" ] || {
                echo "changing a file did not change the digest"
                return 1
        }
        # only the config layer (and documents above it) changed; the data layer is shared
        local m mb
        m=$(manifest_of "$WORK/out" "$DIGEST" amd64)
        mb=$(manifest_of "$BASE_OUT" "$BASE_DIGEST" amd64)
        assert_eq "$(jblob "$WORK/out" "$m" '.layers[3].digest')" "$(jblob "$BASE_OUT" "$mb" '.layers[3].digest')" "data layer"
        [ "$(jblob "$WORK/out" "$m" '.layers[1].digest')" != "$(jblob "$BASE_OUT" "$mb" '.layers[1].digest')" ]
}
