#!/usr/bin/env bats
# concurrency.bats — several commands on one store at once, and a build killed half-way: no lost
# names, no ref to a missing blob, nothing a later fsck or prune cannot account for.

load helpers

setup_file() { lana_setup_file; }
setup() { lana_setup; }

# random_spec DIR NAME MIB: an image holding MIB MiB of random bytes (slow to compress).
random_spec() {
        local dir=$1 name=$2 mib=$3
        mkdir -p "$dir"
        head -c $((mib * 1024 * 1024)) /dev/urandom >"$dir/random.bin"
        write_spec "$dir/lana-img.yaml" <<EOF
image: $name
base: rootfs
layers:
  - name: random
    files:
      - src: random.bin
        dst: /random.bin
EOF
}

# start_stopped_build SPECDIR: starts `build SPECDIR` in the background with the store's test
# hook set, so that the build stops itself (SIGSTOP) once a blob it writes passes 4 MiB, and waits
# until it has: the build is then caught half-way through its big layer on any machine, however
# fast. Sets BUILD_PID.
start_stopped_build() {
        local dir=$1 i state
        LANA_IMG_TEST_STOP_BLOB_AT=$((4 << 20)) "$LANA_IMG" --root "$ROOT" build -q \
                --platform linux/amd64 "$dir" >"$WORK/$dir.out" 2>"$WORK/$dir.err" &
        BUILD_PID=$!
        for ((i = 0; i < 1200; i++)); do
                state=$(awk '{ print $3 }' "/proc/$BUILD_PID/stat" 2>/dev/null) || state=gone
                case $state in
                T) return 0 ;;
                gone | Z)
                        echo "the build ended before stopping: $(cat "$WORK/$dir.err")"
                        return 1
                        ;;
                esac
                sleep 0.05
        done
        kill -9 "$BUILD_PID" 2>/dev/null || true
        echo "the build did not stop within 60 s"
        return 1
}

@test "two different builds into one store at the same time both succeed" {
        random_spec "$WORK/a" example.com/t/a 16
        random_spec "$WORK/b" example.com/t/b 16
        mkdir -p "$ROOT"
        lana build -q --platform linux/amd64 a >"$WORK/a.out" 2>"$WORK/a.err" &
        local pa=$!
        lana build -q --platform linux/amd64 b >"$WORK/b.out" 2>"$WORK/b.err" &
        local pb=$!
        # a third build of a's spec under another name races on the same blobs
        lana build -q --platform linux/amd64 -t example.com/t/a2:1 a >"$WORK/a2.out" 2>"$WORK/a2.err" &
        local pc=$!
        local ra=0 rb=0 rc=0
        wait $pa || ra=$?
        wait $pb || rb=$?
        wait $pc || rc=$?
        if [ $ra -ne 0 ] || [ $rb -ne 0 ] || [ $rc -ne 0 ]; then
                echo "a: $ra $(cat "$WORK/a.err")"
                echo "b: $rb $(cat "$WORK/b.err")"
                echo "a2: $rc $(cat "$WORK/a2.err")"
                return 1
        fi
        assert_match "$(cat "$WORK/a.out")" "$SHA256_RE"
        assert_match "$(cat "$WORK/b.out")" "$SHA256_RE"
        assert_eq "$(cat "$WORK/a2.out")" "$(cat "$WORK/a.out")" "digest of the racing rebuild"
        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" \
                "example.com/t/a2:1 example.com/t/a:latest example.com/t/b:latest" names
        assert_eq "$(echo "$output" | jq -r '.[] | select(.name == "example.com/t/a:latest") | .digest')" "$(cat "$WORK/a.out")" "digest of a"
        assert_eq "$(echo "$output" | jq -r '.[] | select(.name == "example.com/t/b:latest") | .digest')" "$(cat "$WORK/b.out")" "digest of b"
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok fsck
        verify_blob_names "$ROOT/oci"
        # no temporary files left by finished builds
        assert_eq "$(find "$ROOT/oci/blobs/sha256" -name '.*' | wc -l)" 0 "temporary blobs"
}

@test "eight tags at once: no name is lost" {
        small_spec "$WORK/s" example.com/t/s
        build_ok -q --platform linux/amd64 s
        local i pids=()
        for i in 1 2 3 4 5 6 7 8; do
                lana tag example.com/t/s "example.com/t/s:copy$i" &
                pids+=($!)
        done
        for i in "${pids[@]}"; do
                wait "$i"
        done
        run --separate-stderr lana images --format json
        assert_eq "$(echo "$output" | jq -r '.[].name' | grep -c ':copy')" 8 "names after concurrent tags"
        assert_eq "$(echo "$output" | jq -r '[.[].digest] | unique | join(" ")')" "$DIGEST" digests
}

@test "a build killed with SIGKILL leaves no ref; fsck is clean; prune removes its temp files" {
        small_spec "$WORK/s" example.com/t/s
        build_ok -q --platform linux/amd64 s
        local keep=$DIGEST
        random_spec "$WORK/big" example.com/t/big 16
        start_stopped_build big
        local pid=$BUILD_PID
        # the stopped build's temporary blob holds what it wrote
        assert_eq "$(find "$ROOT/oci/blobs/sha256" -maxdepth 1 -name '.*' -type f -size +4095k | wc -l)" 1 "partial blobs"
        kill -9 $pid
        local rc=0
        wait $pid || rc=$?
        assert_eq "$rc" 137 "exit status of the killed build"

        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -r '[.[].name] | join(" ")')" "example.com/t/s:latest" "names after the kill"
        assert_not_contains "$(cat "$ROOT/oci/index.json")" "example.com/t/big"
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok "fsck after the kill"
        # the partial blob is still there, under a temporary name
        local left
        left=$(find "$ROOT/oci/blobs/sha256" -maxdepth 1 -name '.*' -type f | wc -l)
        [ "$left" -ge 1 ] || {
                echo "expected the killed build's temporary blob to be left"
                return 1
        }

        run --separate-stderr lana prune
        assert_status 0
        assert_eq "$(find "$ROOT/oci/blobs/sha256" -maxdepth 1 -name '.*' | wc -l)" 0 "temporary files after prune"
        assert_eq "$(find "$ROOT/tmp" -mindepth 1 | wc -l)" 0 "files in \$ROOT/tmp after prune"
        # the other image is intact
        run --separate-stderr lana fsck
        assert_status 0
        run --separate-stderr lana inspect example.com/t/s
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$keep" "surviving image"
        # what the killed build cached (its rootfs layer) was pruned: a new build on the same
        # base must not reuse a blob that is gone
        mkdir -p "$WORK/r"
        echo r >"$WORK/r/r.txt"
        write_spec "$WORK/r/lana-img.yaml" <<'EOF'
image: example.com/t/r
base: rootfs
layers:
  - files:
      - src: r.txt
        dst: /r.txt
EOF
        build_ok -q --platform linux/amd64 r
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok "fsck after a build on the pruned base"
}

@test "prune during a build waits for it and keeps the new image whole" {
        random_spec "$WORK/big" example.com/t/big 16
        mkdir -p "$ROOT"
        start_stopped_build big
        local pid=$BUILD_PID
        lana prune >"$WORK/prune.out" 2>"$WORK/prune.err" &
        local ppid=$!
        sleep 0.5
        # prune waits for the build's lock while the build is stopped
        kill -0 $ppid 2>/dev/null || {
                kill -9 $pid
                echo "prune did not wait for the build: $(cat "$WORK/prune.err")"
                return 1
        }
        kill -CONT $pid
        # had prune not waited, it would have deleted the build's published-but-unnamed rootfs
        # layer and its temporary blob: the build would fail or its image be incomplete
        local rc=0 prc=0
        wait $pid || rc=$?
        wait $ppid || prc=$?
        assert_eq "$rc" 0 "build status ($(cat "$WORK/big.err"))"
        assert_eq "$prc" 0 "prune status ($(cat "$WORK/prune.err"))"
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok fsck
        run --separate-stderr lana inspect example.com/t/big
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$(cat "$WORK/big.out")" digest
}
