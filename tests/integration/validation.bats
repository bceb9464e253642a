#!/usr/bin/env bats
# validation.bats — inputs that used to pass for valid, or fail with the wrong code or a vague
# message (issue 10, parts 6, 8 and 9): a --root that is not a store, registry ports out of
# range and uppercase repository names, broken layers whose error must name the layer and the
# entry, and a prune that must report everything it removes, by kind.

load helpers

setup_file() { lana_setup_file; }
setup() { lana_setup; }

# expect_root_refused ROOT WHY: every store command exits 3 with one line naming ROOT and WHY,
# and ROOT is left as it was.
expect_root_refused() {
        local root=$1 why=$2 before cmd
        before=$(ls -lA --time-style=+ "$root" 2>&1 || true)
        small_spec "$WORK/s" example.com/t/s
        for cmd in images fsck prune "inspect example.com/t/s" "rmi example.com/t/s" \
                "tag example.com/t/s example.com/t/s:2" "push example.com/t/s" \
                "build -q --platform linux/amd64 s"; do
                # shellcheck disable=SC2086
                run --separate-stderr "$LANA_IMG" --root "$root" $cmd
                assert_status 3 || {
                        echo "command: $cmd"
                        return 1
                }
                assert_one_line_error || return 1
                assert_contains "$stderr" "store $root: $why" || return 1
        done
        assert_eq "$(ls -lA --time-style=+ "$root" 2>&1 || true)" "$before" "$root after the commands"
}

@test "--root naming a regular file: every store command fails with exit 3, naming it" {
        echo "not a store" >"$WORK/file"
        expect_root_refused "$WORK/file" "not a directory"
        expect_root_refused "$WORK/file/sub" "not a directory"
        assert_eq "$(cat "$WORK/file")" "not a store" "the file"
}

@test "--root naming a directory with other content: refused, and nothing is written into it" {
        mkdir -p "$WORK/home/docs"
        echo notes >"$WORK/home/notes.txt"
        expect_root_refused "$WORK/home" "not a lana-img store"
        run --separate-stderr "$LANA_IMG" --root "$WORK/home" images
        assert_contains "$stderr" "(it holds '"
        assert_eq "$(ls -A "$WORK/home" | sort | tr '\n' ' ')" "docs notes.txt " "the directory's entries"
}

@test "--root that does not exist: read-only commands see an empty store and create nothing" {
        local root="$WORK/no/such/store"
        run --separate-stderr "$LANA_IMG" --root "$root" images --format json
        assert_status 0
        assert_eq "$output" "[]" "images"
        run --separate-stderr "$LANA_IMG" --root "$root" fsck
        assert_status 0
        assert_eq "$output" ok fsck
        run --separate-stderr "$LANA_IMG" --root "$root" prune
        assert_status 0
        assert_match "$output" "^removed 0 blobs, 0 B; "
        run --separate-stderr "$LANA_IMG" --root "$root" inspect example.com/t/x
        assert_status 4
        assert_one_line_error
        run --separate-stderr "$LANA_IMG" --root "$root" rmi example.com/t/x
        assert_status 4
        [ ! -e "$WORK/no" ] || {
                echo "a read-only command created $(find "$WORK/no")"
                return 1
        }
}

@test "--root: an empty directory, a mount point's lost+found and a half-made store are stores" {
        small_spec "$WORK/s" example.com/t/s
        mkdir -p "$WORK/empty" "$WORK/mnt/lost+found" "$WORK/half/tmp"
        : >"$WORK/half/gc.lock"
        local root
        for root in "$WORK/empty" "$WORK/mnt" "$WORK/half"; do
                run --separate-stderr "$LANA_IMG" --root "$root" images --format json
                assert_status 0
                assert_eq "$output" "[]" "images in $root"
                # read-only commands leave an empty store as they found it
                [ ! -e "$root/oci" ] || {
                        echo "images created $root/oci"
                        return 1
                }
                run --separate-stderr "$LANA_IMG" --root "$root" build -q --platform linux/amd64 s
                assert_status 0
                run --separate-stderr "$LANA_IMG" --root "$root" fsck
                assert_status 0
                assert_eq "$output" ok "fsck of $root"
        done
}

# ---- references ----

@test "tag to a registry port out of range or malformed: exit 3, naming the port" {
        small_spec "$WORK/s" example.com/t/s
        build_ok -q --platform linux/amd64 s
        local before dst
        before=$(store_snapshot)
        for dst in localhost:99999/x:y localhost:65536/x localhost:0/x localhost:05000/x \
                "[::1]:70000/x" "[:::::]/x" "[::1]x/y"; do
                run --separate-stderr lana tag example.com/t/s "$dst"
                assert_status 3 || {
                        echo "DST $dst"
                        return 1
                }
                assert_one_line_error
                assert_contains "$stderr" "bad registry"
        done
        run --separate-stderr lana tag example.com/t/s localhost:99999/x:y
        assert_contains "$stderr" "port must be a number 1..65535"
        assert_same_text "$(store_snapshot)" "$before" "store after the refused tags"
        # the edges of the range are fine
        run --separate-stderr lana tag example.com/t/s localhost:65535/x:y
        assert_status 0
        run --separate-stderr lana tag example.com/t/s localhost:1/x:y
        assert_status 0
}

@test "an uppercase repository name is invalid (exit 3), with or without a store" {
        run --separate-stderr lana inspect UPPER/case
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "reference 'UPPER/case'"
        assert_contains "$stderr" "lowercase"
        small_spec "$WORK/s" example.com/t/s
        build_ok -q --platform linux/amd64 s
        local cmd
        for cmd in "inspect UPPER/case" "rmi UPPER/case" "tag UPPER/case example.com/t/x" \
                "tag example.com/t/s UPPER/case" "inspect Foo/bar:v1" "push UPPER/case"; do
                # shellcheck disable=SC2086
                run --separate-stderr lana $cmd
                assert_status 3 || {
                        echo "command: $cmd"
                        return 1
                }
                assert_one_line_error
                assert_contains "$stderr" "lowercase"
        done
        # a malformed digest is invalid too, not "not found"
        run --separate-stderr lana inspect sha256:abc
        assert_status 3
        assert_one_line_error
}

# ---- broken layers: the error names the layer and the entry ----

# broken_layout DIR CASE: an OCI layout with one image, "t", whose single gzip layer is
#   hardlink   x (a file), then b: a hard link to "missing", which no entry made
#   truncated  x (a file), then y (1 MiB of random bytes), the gzip stream cut in y's data
# Prints the layer's digest.
broken_layout() {
        python3 - "$1" "$2" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
out, case = sys.argv[1], sys.argv[2]
os.makedirs(out + "/blobs/sha256")
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"", link=None):
        ti = tarfile.TarInfo(name)
        ti.mode = 0o755
        if link:
            ti.type, ti.linkname = tarfile.LNKTYPE, link
        else:
            ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    add("x", b"#!/bin/sh\n")
    if case == "hardlink":
        add("b", link="missing")
    else:
        add("y", os.urandom(1 << 20))
tar = buf.getvalue()
gz = gzip.compress(tar, mtime=0)
if case == "truncated":
    gz = gz[: len(gz) // 2]
layer = put(gz)
config = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/x"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode())
manifest = put(json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
                           "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [
    dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
         annotations={"org.opencontainers.image.ref.name": "t"})]}))
print(layer["digest"])
EOF
}

# run_broken CASE: `run` of the broken image; sets LAYER.
run_broken() {
        skip_unless_root
        skip_unless python3
        export LANA_IMG_STATE="$WORK/state"
        LAYER=$(broken_layout "$WORK/$1" "$1")
        run --separate-stderr lana run --rm "oci:$WORK/$1:t" /x
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "unpack layer $LAYER: layer entry "
        [ -z "$(ls -A "$ROOT/snapshots" 2>/dev/null | grep -v '^skeleton$')" ] || {
                echo "snapshots left: $(ls -A "$ROOT/snapshots")"
                return 1
        }
}

@test "a hardlink to a missing target: the error names the layer, the entry and the target" {
        run_broken hardlink
        assert_contains "$stderr" "layer entry 'b': hardlink to 'missing', which no earlier entry"
        assert_not_contains "$stderr" "No such file or directory"
}

@test "a truncated layer: the error names the layer and the entry where it breaks" {
        run_broken truncated
        assert_contains "$stderr" "layer entry 'y': "
        assert_contains "$stderr" "truncated or corrupt layer"
        assert_not_contains "$stderr" "Input/output error"
}

# ---- prune reports everything it removes ----

# prune_line: runs prune; sets the counts and sizes it printed, by kind (BLOBS, TEMP, CACHE,
# SNAPS and *_SIZE).
prune_line() {
        run --separate-stderr lana prune
        assert_status 0
        local re='^removed ([0-9]+) blobs, ([^;]+); ([0-9]+) temporary files, ([^;]+); ([0-9]+) cache files, ([^;]+); ([0-9]+) snapshots, ([^;]+); (.+) in all$'
        [[ "$output" =~ $re ]] || {
                echo "prune printed: $output"
                return 1
        }
        BLOBS=${BASH_REMATCH[1]} BLOBS_SIZE=${BASH_REMATCH[2]}
        TEMP=${BASH_REMATCH[3]} TEMP_SIZE=${BASH_REMATCH[4]}
        CACHE=${BASH_REMATCH[5]} CACHE_SIZE=${BASH_REMATCH[6]}
        SNAPS=${BASH_REMATCH[7]} SNAPS_SIZE=${BASH_REMATCH[8]}
        ALL=${BASH_REMATCH[9]}
}

@test "prune after a killed build reports its temporary blob, the partial blobs and \$ROOT/tmp" {
        mkdir -p "$WORK/big"
        head -c $((6 << 20)) /dev/urandom >"$WORK/big/random.bin"
        write_spec "$WORK/big/lana-img.yaml" <<'EOF'
image: example.com/t/big
layers:
  - files:
      - src: random.bin
        dst: /random.bin
EOF
        # the build stops itself once its blob passes 4 MiB; then it is killed there
        # (the binary itself, not the lana function: $! must be its pid)
        LANA_IMG_TEST_STOP_BLOB_AT=$((4 << 20)) "$LANA_IMG" --root "$ROOT" build -q \
                --platform linux/amd64 --compression none big >/dev/null 2>"$WORK/big.err" &
        local pid=$! i state=
        for ((i = 0; i < 1200; i++)); do
                state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || state=gone
                case $state in T | gone | Z) break ;; esac
                sleep 0.05
        done
        kill -9 $pid
        wait $pid || true
        assert_eq "$state" T "state of the build (stderr: $(cat "$WORK/big.err"))"
        local left
        left=$(find "$ROOT/oci/blobs/sha256" -maxdepth 1 -name '.*' -type f -printf '%s\n' | awk '{ s += $1 } END { print NR, s }')
        # a pull's partial blob and a file a killed command left in $ROOT/tmp
        head -c 1000 /dev/zero >"$ROOT/oci/blobs/sha256/.partial-$(printf '%064d' 0)"
        head -c 24 /dev/zero >"$ROOT/tmp/left-over"

        prune_line
        assert_eq "$TEMP" $((${left% *} + 2)) "temporary files removed"
        local want=$((${left#* } + 1024))
        [ "${left#* }" -ge $((4 << 20)) ] || {
                echo "the killed build left ${left#* } bytes in temporary files"
                return 1
        }
        # sizes are printed as cli_size() does: MiB with one decimal here
        assert_eq "$TEMP_SIZE" "$(awk -v b=$want 'BEGIN { printf "%.1f MiB", b / 1048576 }')" "size of the temporary files"
        assert_eq "$ALL" "$TEMP_SIZE" "total"
        assert_eq "$(find "$ROOT/oci/blobs/sha256" -name '.*' | wc -l)" 0 "temporary blobs left"
        assert_eq "$(ls -A "$ROOT/tmp")" "" "files left in \$ROOT/tmp"
        # nothing is left to remove
        prune_line
        assert_eq "$output" "removed 0 blobs, 0 B; 0 temporary files, 0 B; 0 cache files, 0 B; 0 snapshots, 0 B; 0 B in all" "second prune"
}

@test "prune reports unreferenced blobs and the cache entries that go with them" {
        small_spec "$WORK/s" example.com/t/s
        build_ok -q --platform linux/amd64 s
        local cache_files blob_bytes
        # the layer's cache entry names its blob (the slot marks, which name none, stay)
        cache_files=$(find "$ROOT/cache/layers" -type f | wc -l)
        [ "$cache_files" -ge 1 ] || {
                echo "the build cached no layer"
                return 1
        }
        blob_bytes=$(find "$ROOT/oci/blobs/sha256" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
        run --separate-stderr lana rmi example.com/t/s
        assert_status 0
        prune_line
        assert_eq "$BLOBS" 3 "blobs (manifest, config, layer)"
        assert_eq "$BLOBS_SIZE" "$blob_bytes B" "size of the blobs"
        assert_eq "$CACHE" "$cache_files" "cache files"
        assert_eq "$(find "$ROOT/cache/layers" -type f | wc -l)" 0 "layer-cache entries left"
        [ "$CACHE_SIZE" != "0 B" ] || {
                echo "cache files reported without a size"
                return 1
        }
}

@test "prune reports the snapshots it removes, with their size" {
        skip_unless_root
        export LANA_IMG_STATE="$WORK/state"
        mkdir -p "$WORK/s"
        head -c 300000 /dev/urandom >"$WORK/s/data.bin"
        write_spec "$WORK/s/lana-img.yaml" <<'EOF'
image: example.com/t/snap
layers:
  - files:
      - src: data.bin
        dst: /data.bin
EOF
        build_ok -q --platform linux/amd64 s
        # the layer is unpacked before the command is looked for: 127, and a snapshot made
        run -127 --separate-stderr lana run --rm example.com/t/snap /no-such-command
        [ "$status" -eq 127 ] || skip "run cannot start containers here: $stderr"
        local snaps
        snaps=$(ls -A "$ROOT/snapshots" | grep -cv '^skeleton$')
        assert_eq "$snaps" 1 "snapshots after the run"
        run --separate-stderr lana rmi example.com/t/snap
        prune_line
        assert_eq "$SNAPS" 1 "snapshots removed"
        assert_eq "$SNAPS_SIZE" "293.0 KiB" "size of the snapshot (its one file)"
        assert_eq "$(ls -A "$ROOT/snapshots" | grep -cv '^skeleton$')" 0 "snapshots left"
}
