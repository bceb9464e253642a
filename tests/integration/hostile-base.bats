#!/usr/bin/env bats
# hostile-base.bats — images whose documents lie, as a base for `build`, to `run` and to `fsck`:
# a layer descriptor with the wrong size, a wrong diff_id, a truncated gzip, xz data, a "tar"
# that is none, fewer or more diff_ids than layers, 10,001 layers. Every one is refused before
# any work with a one-line error naming what is wrong; `fsck` reports each. The images are made
# by fixtures/hostile-base.py, in an oci: layout or written straight into the store's layout.
# Also: a build that fails validation on a --root that does not exist yet creates nothing.

load helpers
load runtime-helpers

setup_file() { lana_setup_file; }
setup() {
        lana_setup
        HB_FIXTURE="$BATS_TEST_DIRNAME/fixtures/hostile-base.py"
        skip_unless python3
        mkdir -p ctx
        echo hi >ctx/f
}

# hostile LAYOUT NAME CASE [ARG]: adds the image NAME of CASE to LAYOUT.
hostile() {
        python3 "$HB_FIXTURE" "$@"
}

# hostile_store NAME CASE [ARG]: the image docker.io/hostile/NAME:latest straight in the store
# (no lana-img command would let it in).
hostile_store() {
        local name=$1
        shift
        [ -d "$ROOT/oci" ] || {
                hostile "$WORK/seed" ok ok
                lana tag "oci:$WORK/seed:ok" seed/ok >/dev/null
        }
        hostile "$ROOT/oci" "docker.io/hostile/$name:latest" "$@"
}

# spec_on BASE: a spec with BASE and one layer of our own.
spec_on() {
        cat >ctx/lana-img.yaml <<EOF
image: t/derived
base: $1
layers:
  - files:
      - {src: f, dst: /f}
EOF
}

# refused STATUS MESSAGE-PATTERN: the last `run` failed with STATUS and one matching line, and
# the store has no name for the derived image.
refused() {
        assert_status "$1"
        assert_one_line_error
        assert_match "$stderr" "$2"
        run -0 --separate-stderr lana images --format json
        assert_not_contains "$output" t/derived
}

build_base() {
        spec_on "$1"
        run --separate-stderr lana build -q ctx
}

@test "a sound base builds; its layers are read through once, then the cache vouches for them" {
        skip_unless strace jq
        hostile_store ok ok
        local m layer
        m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "docker.io/hostile/ok:latest") | .digest' "$ROOT/oci/index.json")
        layer=$(jq -r '.layers[0].digest' "$ROOT/oci/blobs/sha256/${m#sha256:}")
        layer=${layer#sha256:}
        spec_on docker.io/hostile/ok
        # traced_build ARGS: the build under strace; OPENED says whether the base layer was read
        traced_build() {
                run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                        strace -f -qq -e trace=open,openat,openat2 -o "$WORK/trace" \
                        "$LANA_IMG" --root "$ROOT" build -q "$@" ctx
                OPENED=$(grep -c "\"$layer\"" "$WORK/trace" || true)
        }
        traced_build
        assert_status 0
        assert_match "$output" "$SHA256_RE"
        local first=$output
        [ "$OPENED" -gt 0 ] || {
                echo "the first build did not read the base layer"
                return 1
        }
        traced_build
        assert_status 0
        assert_eq "$output" "$first" "rebuild digest"
        assert_eq "$OPENED" 0 "opens of the base layer by the rebuild"
        # --no-cache: read through again
        traced_build --no-cache
        assert_status 0
        [ "$OPENED" -gt 0 ]
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok
}

@test "base layer whose descriptor says size 10 for 10,240 bytes: refused, exit 1" {
        hostile "$WORK/lay" size size
        build_base "oci:$WORK/lay:size"
        refused 1 "base oci:.*:size: layer 0: blob sha256:[0-9a-f]{64} has 10240 bytes, descriptor says 10$"
}

@test "store base with a lying size: refused too, and the blob is not copied into an oci: output" {
        hostile_store size size
        spec_on docker.io/hostile/size
        run --separate-stderr lana build -q -o "oci:$WORK/out" ctx
        refused 1 "has 10240 bytes, descriptor says 10"
        [ ! -e "$WORK/out/index.json" ] || assert_eq "$(jq '.manifests | length' "$WORK/out/index.json")" 0
}

@test "base with a wrong diff_id: refused, naming both digests" {
        hostile "$WORK/lay" diffid diffid
        build_base "oci:$WORK/lay:diffid"
        refused 1 "uncompressed content hashes to sha256:[0-9a-f]{64}, diff_id says sha256:[0-9a-f]{64}$"
}

@test "base with a wrong diff_id from the store: refused" {
        hostile_store diffid diffid
        build_base docker.io/hostile/diffid
        refused 1 "diff_id says"
}

@test "base with a truncated gzip layer: refused" {
        hostile "$WORK/lay" truncated truncated
        build_base "oci:$WORK/lay:truncated"
        refused 1 "layer sha256:[0-9a-f]{64}: .*truncated"
}

@test "base with an xz layer: refused as a media type lana-img cannot unpack, exit 3" {
        hostile "$WORK/lay" xz xz
        build_base "oci:$WORK/lay:xz"
        refused 3 "layer 0 \(sha256:[0-9a-f]{64}\): media type application/vnd.oci.image.layer.v1.tar\+xz is not a layer lana-img can unpack"
}

@test "base with xz bytes labelled tar+gzip: refused" {
        hostile "$WORK/lay" xz-as-gzip xz-as-gzip
        build_base "oci:$WORK/lay:xz-as-gzip"
        refused 1 "media type application/vnd.oci.image.layer.v1.tar\+gzip, but its bytes are not gzip data"
}

@test "base whose plain layer is no tar: refused" {
        hostile "$WORK/lay" not-tar not-tar
        build_base "oci:$WORK/lay:not-tar"
        refused 1 "the uncompressed stream is not a tar archive"
}

@test "base with fewer or more diff_ids than layers: refused, naming both counts" {
        hostile "$WORK/lay" few few-diffids
        hostile "$WORK/lay" more more-diffids
        build_base "oci:$WORK/lay:few"
        refused 3 "the manifest lists 2 layer\(s\) but the config 1 diff_id\(s\)$"
        build_base "oci:$WORK/lay:more"
        refused 3 "the manifest lists 1 layer\(s\) but the config 2 diff_id\(s\)$"
}

@test "base with 10,001 layers: refused at once, before anything is copied" {
        hostile "$WORK/lay" many many 10001
        build_base "oci:$WORK/lay:many"
        refused 3 "the image has 10001 layers; at most 499 can be stacked$"
        # nothing of the base reached the store
        local blob
        blob=$(jq -r '.layers[0].digest' "$WORK/lay/blobs/sha256/$(jq -r '.manifests[0].digest' "$WORK/lay/index.json" | cut -c8-)")
        [ ! -e "$ROOT/oci/blobs/sha256/${blob#sha256:}" ]
}

@test "a base at the layer limit plus the spec's layers goes over it: refused" {
        hostile "$WORK/lay" full many 499
        build_base "oci:$WORK/lay:full"
        refused 3 "the image would have 500 layers; at most 499 can be stacked$"
}

@test "fsck names every hostile image it holds" {
        hostile_store ok ok
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok "fsck of the sound image"
        local c
        for c in size diffid truncated xz xz-as-gzip not-tar few-diffids more-diffids; do
                hostile_store "$c" "$c"
        done
        hostile_store many many 10001
        run --separate-stderr lana fsck
        assert_status 1
        assert_match "$output" "fault: ref docker.io/hostile/size:latest: blob sha256:[0-9a-f]{64} has 10240 bytes, descriptor says 10"
        assert_match "$output" "fault: ref docker.io/hostile/diffid:latest: layer sha256:[0-9a-f]{64}: uncompressed content hashes to"
        assert_match "$output" "fault: ref docker.io/hostile/truncated:latest: layer sha256:[0-9a-f]{64}: .*truncated"
        assert_match "$output" "fault: ref docker.io/hostile/xz:latest: manifest sha256:[0-9a-f]{64}: layer 0 .*tar\+xz is not a layer"
        assert_match "$output" "fault: ref docker.io/hostile/xz-as-gzip:latest: layer .*its bytes are not gzip data"
        assert_match "$output" "fault: ref docker.io/hostile/not-tar:latest: layer .*not a tar archive"
        assert_match "$output" "fault: ref docker.io/hostile/few-diffids:latest: manifest sha256:[0-9a-f]{64}: the manifest lists 2 layer\(s\) but the config 1 diff_id\(s\)"
        assert_match "$output" "fault: ref docker.io/hostile/more-diffids:latest: manifest sha256:[0-9a-f]{64}: the manifest lists 1 layer\(s\) but the config 2 diff_id\(s\)"
        assert_match "$output" "fault: ref docker.io/hostile/many:latest: manifest sha256:[0-9a-f]{64}: the image has 10001 layers"
        assert_not_contains "$output" "hostile/ok:"
        assert_not_contains "$output" "seed/ok:"
}

@test "tag into the store refuses a layer whose descriptor lies about its size" {
        hostile "$WORK/lay" size size
        run --separate-stderr lana tag "oci:$WORK/lay:size" t/copied
        assert_status 1
        assert_one_line_error
        assert_match "$stderr" "has 10240 bytes, descriptor says 10"
}

# ---- a failed build on a --root that does not exist yet ----

@test "build failing validation on a missing --root creates nothing there (exit 3)" {
        cat >ctx/lana-img.yaml <<'EOF'
image: t/nothing
layers:
  - files:
      - {src: missing-file, dst: /x}
EOF
        run --separate-stderr "$LANA_IMG" --root "$WORK/new-root" build -q ctx
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" missing-file
        [ ! -e "$WORK/new-root" ]
}

@test "build naming a store base on a missing --root: exit 4, nothing created" {
        spec_on t/no-such-base
        run --separate-stderr "$LANA_IMG" --root "$WORK/new-root" build -q ctx
        assert_status 4
        assert_one_line_error
        [ ! -e "$WORK/new-root" ]
}

@test "a sound build on a missing --root creates the store and fills the cache" {
        hostile "$WORK/lay" ok ok
        spec_on "oci:$WORK/lay:ok"
        run --separate-stderr "$LANA_IMG" --root "$WORK/new-root" build -q ctx
        assert_status 0
        assert_match "$output" "$SHA256_RE"
        [ -d "$WORK/new-root/oci" ]
        [ -n "$(ls "$WORK/new-root/cache/layers")" ]
        run --separate-stderr "$LANA_IMG" --root "$WORK/new-root" build ctx
        assert_status 0
        assert_contains "$stderr" cached
}

# ---- run (root: namespaces, overlay) ----

# hb_run NAME: `run --rm` of the hostile store image NAME.
hb_run() {
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "docker.io/hostile/$1" /bin/true
}

# no_snapshots: run did no work: no layer was unpacked.
no_snapshots() {
        [ ! -d "$ROOT/snapshots" ] || assert_eq "$(ls "$ROOT/snapshots" | grep -vx skeleton || true)" "" snapshots
}

@test "run: fewer diff_ids than layers is refused naming both counts, before any unpacking" {
        rt_setup
        hostile_store few few-diffids
        hb_run few
        assert_status 125
        assert_one_line_error
        assert_match "$stderr" "the manifest lists 2 layer\(s\) but the config 1 diff_id\(s\)"
        no_snapshots
}

@test "run: more diff_ids than layers is refused (build refuses it too)" {
        rt_setup
        hostile_store more more-diffids
        hb_run more
        assert_status 125
        assert_one_line_error
        assert_match "$stderr" "the manifest lists 1 layer\(s\) but the config 2 diff_id\(s\)"
        no_snapshots
}

@test "run: a 10,001-layer image is refused at once, with no snapshot unpacked" {
        rt_setup
        hostile_store many many 10001
        local t0=$SECONDS
        hb_run many
        assert_status 125
        assert_one_line_error
        assert_match "$stderr" "the image has 10001 layers; at most 499 can be stacked"
        no_snapshots
        [ $((SECONDS - t0)) -lt 5 ]
}

@test "run: a layer blob of another size than its descriptor says is refused, as pull would" {
        rt_setup
        hostile_store size size
        hb_run size
        assert_status 125
        assert_one_line_error
        assert_match "$stderr" "blob sha256:[0-9a-f]{64} has 10240 bytes, descriptor says 10"
        no_snapshots
}

@test "run: an xz layer is refused before any unpacking" {
        rt_setup
        hostile_store xz xz
        hb_run xz
        assert_status 125
        assert_one_line_error
        assert_match "$stderr" "tar\+xz is not a layer lana-img can unpack"
        no_snapshots
}

@test "run: an image of 300 layers runs (the overlay names its lower layers by descriptor, not by path)" {
        rt_setup
        [ -x /bin/busybox ] || skip "/bin/busybox is missing (install busybox-static)"
        mkdir -p many
        cp /bin/busybox many/busybox
        {
                echo "image: many/layers"
                echo "layers:"
                echo "  - name: bin"
                echo "    files: [{src: busybox, dst: /bin/busybox}]"
                for i in $(seq 1 300); do
                        echo "f$i" >"many/f$i"
                        echo "  - name: l$i"
                        echo "    files: [{src: f$i, dst: /data/f$i}]"
                done
        } >many/lana-img.yaml
        lana build -q many >/dev/null
        run --separate-stderr lana run --rm many/layers /bin/busybox sh -c \
                '/bin/busybox ls /data | /bin/busybox wc -l; /bin/busybox cat /data/f1 /data/f300'
        assert_status 0
        assert_eq "$(printf '%s' "$output" | tr '\n' ' ')" "300 f1 f300" "the container's view"
}
