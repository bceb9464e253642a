#!/usr/bin/env bats
# build.bats — `lana-img build` into the store and to files, and the store commands a user runs
# next: images, inspect, tag, rmi, prune, fsck.

load helpers

setup_file() { lana_setup_file; }
setup() {
        lana_setup
        need_hello amd64
        make_fixture "$WORK/ctx"
        app_spec "$WORK/ctx"
}

# sizes of manifest + config + layers of a single-platform image in LAYOUT
image_bytes() {
        local l=$1 d=$2
        local m c ls
        m=$(stat -c %s "$(blob "$l" "$d")")
        c=$(jblob "$l" "$d" .config.size)
        ls=$(jblob "$l" "$d" '[.layers[].size] | add')
        echo $((m + c + ls))
}

@test "build prints the manifest digest on stdout and names every tag" {
        build_ok --platform linux/amd64 ctx
        assert_match "$DIGEST" "$SHA256_RE"
        # the digest is the manifest blob
        assert_eq "$(sha256sum <"$(blob "$ROOT/oci" "$DIGEST")" | cut -d' ' -f1)" "${DIGEST#sha256:}" "manifest hash"
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" .mediaType)" "$MT_MANIFEST" "mediaType"
        assert_contains "$stderr" "tagged registry.example.com/lana/app:latest"
        assert_contains "$stderr" "tagged registry.example.com/lana/app:0.1.0"

        run --separate-stderr lana images
        assert_status 0
        local short=${DIGEST:0:19} name
        for name in registry.example.com/lana/app:latest registry.example.com/lana/app:0.1.0; do
                assert_line "$output" "^$name +$short +linux/amd64 +[0-9.]+ [KM]iB$"
        done
        assert_eq "$(printf '%s\n' "$output" | grep -c '^registry.example.com/lana/app:')" 2 "image lines"
}

@test "-q prints only the digest; a rebuild gives the same digest" {
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$stderr" "" "stderr with -q"
        local first=$DIGEST
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$DIGEST" "$first" "digest of the rebuild"
}

@test "images --format json lists name, digest, platforms and size of every image" {
        build_ok -q --platform linux/amd64 ctx
        small_spec "$WORK/small" example.com/t/small
        build_ok -q --platform linux/amd64 small
        local small=$DIGEST
        build_ok -q --platform linux/amd64 ctx
        local app=$DIGEST

        run --separate-stderr lana images --format json
        assert_status 0
        echo "$output" | jq -e 'type == "array"' >/dev/null || {
                echo "not a JSON array: $output"
                return 1
        }
        assert_eq "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" \
                "example.com/t/small:latest registry.example.com/lana/app:0.1.0 registry.example.com/lana/app:latest" "names"
        local n
        for n in registry.example.com/lana/app:0.1.0 registry.example.com/lana/app:latest; do
                assert_eq "$(echo "$output" | jq -r --arg n "$n" '.[] | select(.name == $n) | .digest')" "$app" "digest of $n"
        done
        assert_eq "$(echo "$output" | jq -r '.[] | select(.name == "example.com/t/small:latest") | .digest')" "$small" "digest of small"
        assert_eq "$(echo "$output" | jq -c '[.[].platforms] | unique')" '[["linux/amd64"]]' "platforms"
        assert_eq "$(echo "$output" | jq -r '.[] | select(.name == "registry.example.com/lana/app:latest") | .size')" \
                "$(image_bytes "$ROOT/oci" "$app")" "size of app"
        assert_eq "$(echo "$output" | jq -r '.[] | select(.name == "example.com/t/small:latest") | .size')" \
                "$(image_bytes "$ROOT/oci" "$small")" "size of small"
}

@test "images on a store that does not exist lists nothing" {
        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -c .)" "[]" "images"
}

@test "inspect shows the image config as specified, created at the epoch" {
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana inspect registry.example.com/lana/app:0.1.0
        assert_status 0
        local j=$output
        echo "$j" | jq -e . >/dev/null
        assert_eq "$(echo "$j" | jq -r .digest)" "$DIGEST" "digest"
        local c
        c=$(echo "$j" | jq -c .config.config)
        assert_eq "$(echo "$c" | jq -c .Entrypoint)" '["/bin/hello"]' Entrypoint
        assert_eq "$(echo "$c" | jq -c .Cmd)" '["serve","--verbose"]' Cmd
        assert_eq "$(echo "$c" | jq -c .Env)" \
                '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANA_HOME=/lana","GREETING=hello world"]' Env
        assert_eq "$(echo "$c" | jq -r .User)" "65532:65532" User
        assert_eq "$(echo "$c" | jq -r .WorkingDir)" "/lana" WorkingDir
        assert_eq "$(echo "$c" | jq -c '.ExposedPorts')" '{"5253/tcp":{},"53/udp":{}}' ExposedPorts
        assert_eq "$(echo "$c" | jq -c '.Labels')" '{"org.opencontainers.image.source":"https://example.com/lana","tier":"backend"}' Labels
        assert_eq "$(echo "$c" | jq -r .StopSignal)" SIGTERM StopSignal
        assert_eq "$(echo "$j" | jq -r .config.created)" "1970-01-01T00:00:00Z" created
        assert_eq "$(echo "$j" | jq -r '[.config.history[].created] | unique | join(" ")')" "1970-01-01T00:00:00Z" "history created"
        assert_eq "$(echo "$j" | jq -r .config.architecture)/$(echo "$j" | jq -r .config.os)" "amd64/linux" platform
        assert_eq "$(echo "$j" | jq -r '.manifest.annotations["org.opencontainers.image.revision"]')" example "manifest annotation"
        # three layers: rootfs, config, app, with diff_ids matching the config
        assert_eq "$(echo "$j" | jq -r '.layers | length')" 3 "layers"
        assert_eq "$(echo "$j" | jq -c '[.layers[].diff_id]')" "$(echo "$j" | jq -c .config.rootfs.diff_ids)" diff_ids
}

@test "SOURCE_DATE_EPOCH sets created and every mtime, and changes the digest" {
        build_ok -q --platform linux/amd64 ctx
        local d0=$DIGEST
        SOURCE_DATE_EPOCH=1700000000 build_ok -q --platform linux/amd64 ctx
        local d1=$DIGEST
        [ "$d0" != "$d1" ] || {
                echo "SOURCE_DATE_EPOCH did not change the digest ($d0)"
                return 1
        }
        local cfg
        cfg=$(config_of "$ROOT/oci" "$d1")
        assert_eq "$(jblob "$ROOT/oci" "$cfg" .created)" "2023-11-14T22:13:20Z" created
        assert_eq "$(jblob "$ROOT/oci" "$cfg" '[.history[].created] | unique | join(" ")')" "2023-11-14T22:13:20Z" "history created"
        local i listing
        for i in 0 1 2; do
                listing=$(layer_listing "$ROOT/oci" "$d1" $i)
                [ -n "$listing" ]
                if printf '%s\n' "$listing" | grep -v ' 2023-11-14 22:13:20 '; then
                        echo "layer $i has entries with another mtime"
                        return 1
                fi
        done
        listing=$(layer_listing "$ROOT/oci" "$d0" 2)
        if printf '%s\n' "$listing" | grep -v ' 1970-01-01 00:00:00 '; then
                echo "default epoch: entries with another mtime"
                return 1
        fi
        # the refs now name the newer build
        run --separate-stderr lana inspect registry.example.com/lana/app:latest
        assert_eq "$(echo "$output" | jq -r .digest)" "$d1" "digest of latest"
}

@test "--digest-file receives exactly the printed digest" {
        mkdir -p "$WORK/out"
        build_ok -q --platform linux/amd64 --digest-file "$WORK/out/digest" ctx
        [ -f "$WORK/out/digest" ]
        local content
        content=$(<"$WORK/out/digest")
        assert_eq "$content" "$DIGEST" "digest file"
        assert_match "$(wc -c <"$WORK/out/digest")" '^7[12]$'
        # a relative name lands in the working directory
        build_ok -q --platform linux/amd64 --digest-file rel-digest ctx
        assert_eq "$(<"$WORK/rel-digest")" "$DIGEST" "relative digest file"
}

@test "-t adds references next to the spec's tags" {
        build_ok -q --platform linux/amd64 -t example.com/extra/name:v9 -t other/thing ctx
        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" \
                "docker.io/other/thing:latest example.com/extra/name:v9 registry.example.com/lana/app:0.1.0 registry.example.com/lana/app:latest" names
        assert_eq "$(echo "$output" | jq -r '[.[].digest] | unique | join(" ")')" "$DIGEST" "all names, one digest"
        run --separate-stderr lana inspect other/thing
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$DIGEST" "inspect by short name"
}

@test "-t also names an image whose spec has no tags: (image:latest stays)" {
        small_spec "$WORK/s" example.com/t/plain
        build_ok -q --platform linux/amd64 -t example.com/extra/name:1 s
        run --separate-stderr lana images --format json
        assert_status 0
        assert_eq "$(echo "$output" | jq -r '[.[].name] | sort | join(" ")')" \
                "example.com/extra/name:1 example.com/t/plain:latest" names
}

@test "a spec without image: needs -t, and builds with it" {
        write_spec "$WORK/noname/lana-img.yaml" <<'EOF'
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        echo data >"$WORK/noname/data.txt"
        run --separate-stderr lana build -q noname
        assert_status 3
        assert_contains "$stderr" "no image name"
        build_ok -q -t example.com/named:1 noname
        run --separate-stderr lana inspect example.com/named:1
        assert_status 0
}

@test "tag, rmi and prune: only unreferenced blobs go, the rest still passes fsck" {
        build_ok -q --platform linux/amd64 ctx
        local app=$DIGEST
        small_spec "$WORK/small" example.com/t/small
        build_ok -q --platform linux/amd64 small
        local small=$DIGEST

        run --separate-stderr lana tag registry.example.com/lana/app:latest example.com/copy:1
        assert_status 0
        run --separate-stderr lana inspect example.com/copy:1
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$app" "digest of the new name"

        # blobs of each image
        local app_blobs small_blobs
        app_blobs=$( (echo "$app"; config_of "$ROOT/oci" "$app"; layers "$ROOT/oci" "$app" | cut -d' ' -f2) | sort -u)
        small_blobs=$( (echo "$small"; config_of "$ROOT/oci" "$small"; layers "$ROOT/oci" "$small" | cut -d' ' -f2) | sort -u)

        run --separate-stderr lana rmi registry.example.com/lana/app:latest registry.example.com/lana/app:0.1.0
        assert_status 0
        assert_eq "$output" $'untagged registry.example.com/lana/app:latest\nuntagged registry.example.com/lana/app:0.1.0' "rmi output"
        run --separate-stderr lana rmi registry.example.com/lana/app:latest
        assert_status 4
        # still named example.com/copy:1: prune keeps everything
        run --separate-stderr lana prune
        assert_status 0
        assert_eq "$output" "removed 0 blobs, 0 B; 0 temporary files, 0 B; 0 cache files, 0 B; 0 snapshots, 0 B; 0 B in all" "prune with every blob referenced"
        local b
        for b in $app_blobs $small_blobs; do
                [ -f "$(blob "$ROOT/oci" "$b")" ] || {
                        echo "prune removed referenced blob $b"
                        return 1
                }
        done

        run --separate-stderr lana rmi example.com/copy:1
        assert_status 0
        run --separate-stderr lana prune
        assert_status 0
        local n
        n=$(comm -23 <(echo "$app_blobs") <(echo "$small_blobs") | grep -c .)
        assert_match "$output" "^removed $n blobs, "
        for b in $(comm -23 <(echo "$app_blobs") <(echo "$small_blobs")); do
                [ ! -e "$(blob "$ROOT/oci" "$b")" ] || {
                        echo "prune kept unreferenced blob $b"
                        return 1
                }
        done
        for b in $small_blobs; do
                [ -f "$(blob "$ROOT/oci" "$b")" ] || {
                        echo "prune removed blob $b of example.com/t/small"
                        return 1
                }
        done
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok fsck
        run --separate-stderr lana images --format json
        assert_eq "$(echo "$output" | jq -r '[.[].name] | join(" ")')" "example.com/t/small:latest" "remaining images"
        assert_eq "$(ls "$ROOT/oci/blobs/sha256" | sort)" "$(echo "$small_blobs" | sed 's/^sha256://' | sort)" "blobs left"
}

@test "fsck exits 1 and names a corrupted blob" {
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok "fsck of a clean store"
        local mt layer
        read -r mt layer < <(layers "$ROOT/oci" "$DIGEST" | sed -n 3p)
        local f
        f=$(blob "$ROOT/oci" "$layer")
        chmod u+w "$f"
        # same size, one byte different
        printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
        run --separate-stderr lana fsck
        assert_status 1
        assert_contains "$output" "blob $layer: content hashes to sha256:"
        assert_eq "$(printf '%s\n' "$output" | grep -c '^fault: ')" 1 "fault lines"
        assert_contains "$stderr" "1 fault"
}

@test "fsck reports a missing blob and inspect refuses a corrupt config" {
        build_ok -q --platform linux/amd64 ctx
        local mt layer cfg
        read -r mt layer < <(layers "$ROOT/oci" "$DIGEST" | sed -n 2p)
        rm "$(blob "$ROOT/oci" "$layer")"
        run --separate-stderr lana fsck
        assert_status 1
        assert_contains "$output" "blob $layer is missing"

        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        chmod u+w "$(blob "$ROOT/oci" "$cfg")"
        printf ' ' >>"$(blob "$ROOT/oci" "$cfg")"
        run --separate-stderr lana inspect registry.example.com/lana/app:latest
        assert_status 1
        assert_contains "$stderr" "$cfg"
        assert_eq "$output" "" "inspect stdout of a corrupt image"
}

@test "base scratch: only the spec's files, default PATH" {
        mkdir -p "$WORK/s"
        echo one >"$WORK/s/one.txt"
        write_spec "$WORK/s/lana-img.yaml" <<'EOF'
image: example.com/t/scratch
base: scratch
layers:
  - files:
      - src: one.txt
        dst: /opt/x/one.txt
EOF
        build_ok -q --platform linux/amd64 s
        assert_eq "$(layers "$ROOT/oci" "$DIGEST" | wc -l)" 1 layers
        assert_same_text "$(layer_listing "$ROOT/oci" "$DIGEST" 0 | awk '{print $1, $2, $NF}')" \
                "drwxr-xr-x 0/0 opt/
drwxr-xr-x 0/0 opt/x/
-rw-r--r-- 0/0 opt/x/one.txt" "scratch layer"
        local cfg
        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        assert_eq "$(jblob "$ROOT/oci" "$cfg" -c .config.Env)" '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' Env
        assert_eq "$(jblob "$ROOT/oci" "$cfg" -c '.config | has("Entrypoint")')" false "Entrypoint set"
}

@test "base rootfs: the in-tree skeleton comes first with its fixed modes and owners" {
        build_ok -q --platform linux/amd64 ctx
        local listing
        listing=$(layer_listing "$ROOT/oci" "$DIGEST" 0)
        echo "$listing"
        local want
        want=$(cd "$LANA_SRC/rootfs" && find . -mindepth 1 ! -name .gitkeep -printf '%P\n' | LC_ALL=C sort)
        assert_same_text "$(printf '%s\n' "$listing" | awk '{print $NF}' | sed 's,/$,,')" "$want" "rootfs layer paths"
        assert_line "$listing" '^drwxrwxrwt 0/0 +0 .* tmp/$'
        assert_line "$listing" '^drwx------ 65532/65532 +0 .* home/nonroot/$'
        assert_line "$listing" '^drwx------ 0/0 +0 .* root/$'
        assert_line "$listing" '^-rw-r--r-- 0/0 +[0-9]+ .* etc/passwd$'
        # bytes come from the tree
        local mt d
        read -r mt d < <(layers "$ROOT/oci" "$DIGEST" | head -1)
        local f
        for f in etc/passwd etc/group etc/nsswitch.conf; do
                layer_tar "$ROOT/oci" "$mt" "$d" | tar -xOf - "$f" >"$WORK/got"
                cmp "$WORK/got" "$LANA_SRC/rootfs/$f"
        done
}

@test "base from the store: its layers come first, its config is inherited and env merged" {
        build_ok -q --platform linux/amd64 ctx
        local parent=$DIGEST
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<'EOF'
image: example.com/t/child
base: registry.example.com/lana/app:0.1.0
layers:
  - name: child
    files:
      - src: child.txt
        dst: /child.txt
config:
  env: {CHILD: "1", GREETING: hi}
  labels: {tier: frontend}
EOF
        build_ok -q --platform linux/amd64 child
        local child=$DIGEST
        local pl cl
        pl=$(layers "$ROOT/oci" "$parent")
        cl=$(layers "$ROOT/oci" "$child")
        assert_eq "$(printf '%s\n' "$cl" | wc -l)" 4 "child layers"
        assert_same_text "$(printf '%s\n' "$cl" | head -3)" "$pl" "base layers first"
        local pc cc
        pc=$(config_of "$ROOT/oci" "$parent")
        cc=$(config_of "$ROOT/oci" "$child")
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c '.rootfs.diff_ids[0:3]')" "$(jblob "$ROOT/oci" "$pc" -c .rootfs.diff_ids)" "diff_ids prefix"
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c '.history[0:3]')" "$(jblob "$ROOT/oci" "$pc" -c .history)" "history prefix"
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c .config.Env)" \
                '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANA_HOME=/lana","GREETING=hi","CHILD=1"]' Env
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c .config.Entrypoint)" '["/bin/hello"]' "inherited Entrypoint"
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c .config.Cmd)" '["serve","--verbose"]' "inherited Cmd"
        assert_eq "$(jblob "$ROOT/oci" "$cc" -r .config.User)" "65532:65532" "inherited User"
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c .config.Labels)" '{"org.opencontainers.image.source":"https://example.com/lana","tier":"frontend"}' Labels
        run --separate-stderr lana fsck
        assert_status 0
}

@test "base from oci:DIR: blobs are copied into the store, layers first, env inherited" {
        build_ok -q --platform linux/amd64 -o "oci:$WORK/parent" ctx
        local parent=$DIGEST
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<EOF
image: example.com/t/child
base: oci:$WORK/parent:0.1.0
layers:
  - files:
      - src: child.txt
        dst: /child.txt
config:
  env: {CHILD: "1"}
EOF
        build_ok -q --platform linux/amd64 child
        local child=$DIGEST
        assert_same_text "$(layers "$ROOT/oci" "$child" | head -3)" "$(layers "$WORK/parent" "$parent")" "base layers first"
        assert_eq "$(layers "$ROOT/oci" "$child" | wc -l)" 4 "child layers"
        local cc
        cc=$(config_of "$ROOT/oci" "$child")
        assert_eq "$(jblob "$ROOT/oci" "$cc" -c .config.Env)" \
                '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANA_HOME=/lana","GREETING=hello world","CHILD=1"]' Env
        assert_eq "$(jblob "$ROOT/oci" "$cc" .config.WorkingDir)" /lana "inherited WorkingDir"
        # the child is complete in the store without the base directory
        rm -rf "$WORK/parent"
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok fsck
}

@test "symlinks stay symlinks, hard links become regular files, modes come from the spec" {
        build_ok -q --platform linux/amd64 ctx
        local listing
        listing=$(layer_listing "$ROOT/oci" "$DIGEST" 1)
        echo "$listing"
        assert_line "$listing" '^lrwxrwxrwx 0/0 +0 .* etc/lana/link -> app.toml$'
        local size
        size=$(stat -c %s "$WORK/ctx/conf/app.toml")
        assert_line "$listing" '^-rw-r----- 0/0 +'"$size"' .* etc/lana/hard$'
        assert_line "$listing" '^-rw-r----- 0/0 +'"$size"' .* etc/lana/app.toml$'
        assert_not_contains "$listing" "link to"
        # mode: "0640" applies to files only; directories keep 0755; the script's x bit is
        # replaced by the declared mode too
        assert_line "$listing" '^drwxr-xr-x 0/0 +0 .* etc/lana/sub/$'
        assert_line "$listing" '^drwxr-xr-x 0/0 +0 .* etc/lana/empty/$'
        assert_line "$listing" '^-rw-r----- 0/0 +[0-9]+ .* etc/lana/run.sh$'
        # content of the hard link is the file's
        local mt d
        read -r mt d < <(layers "$ROOT/oci" "$DIGEST" | sed -n 2p)
        layer_tar "$ROOT/oci" "$mt" "$d" | tar -xOf - etc/lana/hard >"$WORK/hard"
        cmp "$WORK/hard" "$WORK/ctx/conf/app.toml"
        # without a mode: 0644, or 0755 when executable
        listing=$(layer_listing "$ROOT/oci" "$DIGEST" 2)
        assert_line "$listing" '^-rwxr-xr-x 0/0 +[0-9]+ .* bin/hello$'
}

@test "compression: gzip by default, annotated on every layer" {
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r '[.layers[].mediaType] | unique | join(" ")')" "$MT_LAYER+gzip" mediaType
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r --arg a "$ANNOT_COMPRESSION" '[.layers[] | .annotations[$a] // "MISSING" | startswith("lana-gzip/")] | unique | join(" ")')" true "compression annotation"
}

@test "--compression zstd gives tar+zstd layers, annotated on every layer" {
        build_ok -q --platform linux/amd64 --compression zstd ctx
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r '[.layers[].mediaType] | unique | join(" ")')" "$MT_LAYER+zstd" mediaType
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r '.layers | length')" 3 layers
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r --arg a "$ANNOT_COMPRESSION" '[.layers[] | .annotations[$a] // "MISSING" | startswith("lana-zstd/")] | unique | join(" ")')" true "compression annotation"
        # zstd frames (magic 28 b5 2f fd)
        local d
        for d in $(jblob "$ROOT/oci" "$DIGEST" -r '.layers[].digest'); do
                assert_eq "$(head -c4 "$(blob "$ROOT/oci" "$d")" | od -An -tx1 | tr -d ' \n')" 28b52ffd "magic of $d"
        done
}

@test "--compression none gives plain tar layers whose digest is the diff_id" {
        build_ok -q --platform linux/amd64 --compression none ctx
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -r '[.layers[].mediaType] | unique | join(" ")')" "$MT_LAYER" mediaType
        local cfg
        cfg=$(config_of "$ROOT/oci" "$DIGEST")
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" -c '[.layers[].digest]')" "$(jblob "$ROOT/oci" "$cfg" -c .rootfs.diff_ids)" "digests vs diff_ids"
        layer_listing "$ROOT/oci" "$DIGEST" 2 | grep -q ' bin/hello$'
}

@test "--compression with an unknown algorithm is invalid input" {
        mkdir -p "$ROOT"
        build_ok -q --platform linux/amd64 ctx
        local before
        before=$(store_snapshot)
        run --separate-stderr lana build -q --compression lzma ctx
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "lzma"
        assert_same_text "$(store_snapshot)" "$before" "store after a failed build"
}

@test "-o oci:DIR writes a layout named by tag, and does not touch the store" {
        build_ok -q --platform linux/amd64 -o "oci:$WORK/out" ctx
        [ ! -e "$ROOT" ] || {
                echo "-o oci: created the store $ROOT"
                return 1
        }
        assert_eq "$(jq -r '.manifests | map(.annotations["org.opencontainers.image.ref.name"]) | sort | join(" ")' "$WORK/out/index.json")" "0.1.0 latest" "ref names"
        assert_eq "$(jq -r '[.manifests[].digest] | unique | join(" ")' "$WORK/out/index.json")" "$DIGEST" "ref digests"
        assert_eq "$(cat "$WORK/out/oci-layout")" '{"imageLayoutVersion":"1.0.0"}' oci-layout
        verify_blob_names "$WORK/out"
        run --separate-stderr lana fsck "oci:$WORK/out"
        assert_status 0
        # the same image as a store build
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$DIGEST" "$(jq -r '.manifests[0].digest' "$WORK/out/index.json")" "store vs oci digest"
}

@test "-o oci-archive:FILE writes a tar of the layout" {
        skip_unless skopeo
        build_ok -q --platform linux/amd64 -o "oci-archive:$WORK/img.tar" ctx
        [ ! -e "$ROOT" ]
        local names want
        names=$(tar -tf "$WORK/img.tar" | LC_ALL=C sort)
        want=$( (echo blobs/; echo blobs/sha256/; echo index.json; echo oci-layout
                echo "blobs/sha256/${DIGEST#sha256:}"
                tar -xOf "$WORK/img.tar" "blobs/sha256/${DIGEST#sha256:}" | jq -r '.config.digest, .layers[].digest' | sed 's,^sha256:,blobs/sha256/,') | LC_ALL=C sort -u)
        assert_same_text "$names" "$want" "archive members"
        # no temporary export directory left next to the file
        assert_eq "$(ls -A "$WORK" | grep -c '^\.lana-img-export' || true)" 0 "leftover export dirs"
        run --separate-stderr skopeo inspect "oci-archive:$WORK/img.tar:0.1.0"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Digest)" "$DIGEST" "skopeo digest"
        assert_eq "$(echo "$output" | jq -r .Architecture)" amd64 "skopeo architecture"
        run --separate-stderr lana inspect "oci-archive:$WORK/img.tar:latest"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$DIGEST" "inspect oci-archive"
}

@test "-o docker-archive:FILE is readable by skopeo with the spec's names" {
        skip_unless skopeo
        build_ok -q --platform linux/amd64 -o "docker-archive:$WORK/d.tar" ctx
        local members
        members=$(tar -tf "$WORK/d.tar")
        assert_line "$members" '^manifest.json$'
        local dm
        dm=$(tar -xOf "$WORK/d.tar" manifest.json)
        assert_eq "$(echo "$dm" | jq -c '.[0].RepoTags')" '["registry.example.com/lana/app:latest","registry.example.com/lana/app:0.1.0"]' RepoTags
        local cfg
        cfg=$(tar -xOf "$WORK/d.tar" "blobs/sha256/${DIGEST#sha256:}" | jq -r .config.digest)
        assert_eq "$(echo "$dm" | jq -r '.[0].Config')" "blobs/sha256/${cfg#sha256:}" Config
        local p
        for p in $(echo "$dm" | jq -r '.[0].Config, .[0].Layers[]'); do
                assert_line "$members" "^$p\$"
        done
        run --separate-stderr skopeo inspect "docker-archive:$WORK/d.tar"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .Architecture)" amd64 Architecture
        assert_eq "$(echo "$output" | jq -r '.Layers | length')" 3 Layers
        assert_contains "$(echo "$output" | jq -c .Env)" '"LANA_HOME=/lana"'
        run --separate-stderr skopeo inspect --config "docker-archive:$WORK/d.tar"
        assert_status 0
        assert_eq "$(echo "$output" | jq -c .config.Entrypoint)" '["/bin/hello"]' Entrypoint
        run --separate-stderr skopeo inspect --raw "docker-archive:$WORK/d.tar"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .config.digest)" "$cfg" "config digest through skopeo"
}

@test "uid, gid and special modes from the spec; a directory copied to /; a dst with a space" {
        mkdir -p "$WORK/o/rootdir/sub"
        echo r >"$WORK/o/rootdir/sub/f"
        echo o >"$WORK/o/own.txt"
        write_spec "$WORK/o/lana-img.yaml" <<'EOF2'
image: example.com/t/owners
layers:
  - files:
      - src: rootdir/
        dst: /
      - src: own.txt
        dst: /srv/my file.txt
        uid: "1000"
        gid: 2000
        mode: "4755"
config:
  volumes: [/data]
EOF2
        build_ok -q --platform linux/amd64 o
        local listing
        listing=$(layer_listing "$ROOT/oci" "$DIGEST" 0)
        assert_same_text "$(printf '%s\n' "$listing" | awk '{print $1, $2, $3}')" \
                "drwxr-xr-x 0/0 0
-rwsr-xr-x 1000/2000 2
drwxr-xr-x 0/0 0
-rw-r--r-- 0/0 2" "modes, owners and sizes"
        assert_line "$listing" ' srv/my file\.txt$'
        assert_line "$listing" ' sub/f$'
        assert_eq "$(jblob "$ROOT/oci" "$(config_of "$ROOT/oci" "$DIGEST")" -c .config.Volumes)" '{"/data":{}}' Volumes
}

@test "layer cache: a same-size edit with the mtime put back is rebuilt, not served stale" {
        build_ok -q --platform linux/amd64 ctx
        local d1=$DIGEST
        # a rebuild with nothing changed gives the same image
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$DIGEST" "$d1" "digest of an unchanged rebuild"
        local f="$WORK/ctx/conf/app.toml"
        cp -p "$f" "$WORK/app.toml.orig"
        printf 'port = 9090\nname = "lana"\n' >"$f"
        assert_eq "$(stat -c %s "$f")" "$(stat -c %s "$WORK/app.toml.orig")" "size of the edited file"
        touch -r "$WORK/app.toml.orig" "$f"
        build_ok -q --platform linux/amd64 ctx
        local d2=$DIGEST
        [ "$d2" != "$d1" ] || {
                echo "the edited file was served from the cache: digest unchanged ($d1)"
                return 1
        }
        local mt d
        read -r mt d < <(layers "$ROOT/oci" "$d2" | sed -n 2p)
        assert_eq "$(layer_tar "$ROOT/oci" "$mt" "$d" | tar -xOf - etc/lana/app.toml)" "$(printf 'port = 9090\nname = "lana"')" "file in the image"
        # the old bytes back give the old image again, with or without the cache
        cp -p "$WORK/app.toml.orig" "$f"
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$DIGEST" "$d1" "digest with the original content back"
        build_ok -q --platform linux/amd64 --no-cache ctx
        assert_eq "$DIGEST" "$d1" "digest with --no-cache"
        run --separate-stderr lana fsck
        assert_status 0
}

# cache_spec DIR: three layers on scratch whose file modes come from the host (no `mode:`).
cache_spec() {
        local dir=$1
        mkdir -p "$dir/tools"
        printf '#!/bin/sh\necho tool\n' >"$dir/tools/tool"
        chmod 0644 "$dir/tools/tool"
        write_spec "$dir/lana-img.yaml" <<'EOF2'
image: example.com/t/cache
layers:
  - name: config
    files:
      - src: conf/
        dst: /etc/lana/
  - name: app
    files:
      - src: target/x86_64-unknown-linux-musl/release/hello
        dst: /bin/hello
  - name: tools
    files:
      - src: tools/
        dst: /usr/local/bin/
EOF2
}

# traced_build DIR: a build of DIR for linux/amd64 with its progress lines, every open() of the
# build traced into $WORK/trace; sets status, output, stderr and CACHED (the names of the layers
# served from the cache, sorted, on one line) and OPENED (the context files it opened).
# (LeakSanitizer cannot run under ptrace: a sanitizer build's leak check is left out here.)
traced_build() {
        run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                strace -f -qq -e trace=open,openat,openat2 -o "$WORK/trace" \
                "$LANA_IMG" --root "$ROOT" build --platform linux/amd64 "$1"
        CACHED=$(printf '%s\n' "$stderr" | sed -n 's|^linux/amd64 \([a-z]*\): cached.*|\1|p' | sort | xargs)
        OPENED=$(grep -E '"[^"]*/(app\.toml|b\.txt|hello|tool)"' "$WORK/trace" | grep -v O_DIRECTORY || true)
}

@test "layer cache: an unchanged rebuild opens no context file; an edit or a mode change rebuilds that layer only" {
        skip_unless strace
        cp -a "$WORK/ctx" "$WORK/c"
        cache_spec "$WORK/c"
        build_ok -q --platform linux/amd64 c
        local d1=$DIGEST
        # nothing changed: every layer from the cache, and not one file of the context read (not
        # even the 20 bytes of the ELF check: the cache entry notes the machines it saw)
        traced_build c
        assert_status 0
        assert_eq "$output" "$d1" "digest of the unchanged rebuild"
        assert_eq "$CACHED" "app config tools" "layers from the cache"
        assert_eq "$OPENED" "" "context files opened by an unchanged rebuild"
        # control: the trace does see the opens when a layer is built
        run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                strace -f -qq -e trace=open,openat,openat2 -o "$WORK/trace" \
                "$LANA_IMG" --root "$ROOT" build --platform linux/amd64 --no-cache -q c
        assert_status 0
        assert_match "$(cat "$WORK/trace")" '/release/hello"'

        # an edited file: its layer alone is rebuilt
        printf 'port = 9999\n' >"$WORK/c/conf/app.toml"
        traced_build c
        assert_status 0
        assert_eq "$CACHED" "app tools" "layers from the cache after an edit in config"
        local d2=$output
        [ "$d2" != "$d1" ]

        # a mode change (the executable bit reaches the image): a miss for its layer alone
        chmod 0755 "$WORK/c/tools/tool"
        traced_build c
        assert_status 0
        assert_eq "$CACHED" "app config" "layers from the cache after chmod"
        local d3=$output mt d
        [ "$d3" != "$d2" ]
        read -r mt d < <(layers "$ROOT/oci" "$d3" | sed -n 3p)
        assert_match "$(layer_tar "$ROOT/oci" "$mt" "$d" | tar -tvf - usr/local/bin/tool)" '^-rwxr-xr-x '
}

@test "layer cache: the ELF check is not skipped for another platform, nor for an entry without notes" {
        skip_unless strace
        cp -a "$WORK/ctx" "$WORK/c"
        cache_spec "$WORK/c"
        build_ok -q --platform linux/amd64 c
        # the same files for arm64: the app layer's stat key is in the cache, but its notes say
        # x86-64, so the check reads the file and refuses it
        run --separate-stderr lana build -q --platform linux/arm64 c
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "is an ELF binary for x86-64 (amd64), but the platform is linux/arm64"
        # entries written before the notes existed: the check reads the files once more and
        # the entries get their notes, so the next rebuild reads nothing
        local f
        for f in "$ROOT"/cache/layers/*; do
                jq -c 'del(.notes)' "$f" >"$f.new" && mv "$f.new" "$f"
        done
        traced_build c
        assert_status 0
        assert_eq "$CACHED" "app config tools" "layers from the cache"
        assert_match "$OPENED" '/release/hello"'
        traced_build c
        assert_status 0
        assert_eq "$OPENED" "" "context files opened once the notes are back"
        assert_eq "$(jq -c .notes.elf_machines "$(grep -l '"elf_machines":\[62\]' "$ROOT"/cache/layers/* | head -1)")" "[62]" "notes of the app layer"
}

@test "layer cache: after rmi and prune a rebuild is complete" {
        build_ok -q --platform linux/amd64 ctx
        local d1=$DIGEST
        run --separate-stderr lana rmi registry.example.com/lana/app:latest registry.example.com/lana/app:0.1.0
        assert_status 0
        run --separate-stderr lana prune
        assert_status 0
        assert_eq "$(find "$ROOT/oci/blobs/sha256" -type f | wc -l)" 0 "blobs after prune"
        build_ok -q --platform linux/amd64 ctx
        assert_eq "$DIGEST" "$d1" "digest of the rebuild"
        run --separate-stderr lana fsck
        assert_status 0
        assert_eq "$output" ok fsck
        local b
        for b in $(config_of "$ROOT/oci" "$DIGEST") $(layers "$ROOT/oci" "$DIGEST" | cut -d' ' -f2); do
                [ -f "$(blob "$ROOT/oci" "$b")" ] || {
                        echo "blob $b of the rebuilt image is missing"
                        return 1
                }
        done
}

@test "base from oci-archive:FILE:TAG" {
        build_ok -q --platform linux/amd64 -o "oci-archive:$WORK/parent.tar" ctx
        local parent=$DIGEST
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<EOF2
image: example.com/t/child
base: oci-archive:$WORK/parent.tar:latest
layers:
  - files:
      - src: child.txt
        dst: /child.txt
EOF2
        build_ok -q --platform linux/amd64 child
        run --separate-stderr lana inspect "oci-archive:$WORK/parent.tar:0.1.0"
        assert_status 0
        assert_eq "$(echo "$output" | jq -r .digest)" "$parent" "archive digest"
        assert_eq "$(layers "$ROOT/oci" "$DIGEST" | head -3 | cut -d' ' -f2)" "$(echo "$output" | jq -r '.layers[].digest')" "base layers first"
        run --separate-stderr lana fsck
        assert_status 0
}

# ---- linear-time builds (issue 10) ----

# elapsed_ms T0: milliseconds since T0 (from `date +%s%N`)
elapsed_ms() {
        echo $((($(date +%s%N) - $1) / 1000000))
}

# The bound for one large build. Here (2 cores): 0.3 s for the 40,000 env entries on two
# platforms and under 0.1 s for 2,000 tags; the quadratic env merge took 11 s and the
# one-index.json-rewrite-per-tag 41 s on the same inputs.
LINEAR_BOUND_MS=4000

@test "40,000 config.env entries build in linear time, in spec order after the default PATH" {
        mkdir -p "$WORK/env"
        {
                echo "image: example.com/t/env"
                echo "config:"
                echo " env:"
                seq -f '  V%g: x' 0 39999
        } >"$WORK/env/lana-img.yaml"
        local t0 ms
        t0=$(date +%s%N)
        # make_config runs once per platform: two platforms, two merges
        build_ok -q --platform linux/amd64,linux/arm64 env
        ms=$(elapsed_ms "$t0")
        assert_eq "$(jblob "$ROOT/oci" "$DIGEST" '.manifests | length')" 2 "platforms"
        local m c
        for m in $(jblob "$ROOT/oci" "$DIGEST" -r '.manifests[].digest'); do
                c=$(config_of "$ROOT/oci" "$m")
                assert_eq "$(jblob "$ROOT/oci" "$c" '.config.Env | length')" 40001 "Env entries"
                assert_eq "$(jblob "$ROOT/oci" "$c" -c '.config.Env | [.[0], .[1], .[39999], .[40000]]')" \
                        '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","V0=x","V39998=x","V39999=x"]' Env
        done
        [ "$ms" -lt "$LINEAR_BOUND_MS" ] || { echo "40,000 env entries took $ms ms"; return 1; }
}

# set_base_env LAYOUT JSON: gives the only image of LAYOUT a config whose Env is JSON (an Env no
# spec can produce: a repeated name, an entry without '=', an empty name).
set_base_env() {
        local l=$1 env=$2 m c nc nm
        m=$(jq -r '.manifests[0].digest' "$l/index.json")
        c=$(config_of "$l" "$m")
        jq -c --argjson e "$env" '.config.Env = $e' "$(blob "$l" "$c")" >"$l/tmp"
        nc=$(sha256sum <"$l/tmp" | cut -d' ' -f1)
        mv "$l/tmp" "$l/blobs/sha256/$nc"
        jq -c --arg d "sha256:$nc" --argjson s "$(stat -c %s "$l/blobs/sha256/$nc")" \
                '.config.digest = $d | .config.size = $s' "$(blob "$l" "$m")" >"$l/tmp"
        nm=$(sha256sum <"$l/tmp" | cut -d' ' -f1)
        mv "$l/tmp" "$l/blobs/sha256/$nm"
        jq -c --arg d "sha256:$nm" --argjson s "$(stat -c %s "$l/blobs/sha256/$nm")" \
                '.manifests[0].digest = $d | .manifests[0].size = $s' "$l/index.json" >"$l/tmp"
        mv "$l/tmp" "$l/index.json"
}

@test "env merge: a spec entry replaces the base's first entry of that name in place, new names follow in spec order" {
        small_spec "$WORK/base" example.com/t/base
        build_ok -q --platform linux/amd64 -o "oci:$WORK/base-layout" base
        set_base_env "$WORK/base-layout" '["A=base1","NOEQ","B=base","A=base2","=empty"]'
        mkdir -p "$WORK/child"
        echo child >"$WORK/child/child.txt"
        write_spec "$WORK/child/lana-img.yaml" <<EOF
image: example.com/t/child
base: oci:$WORK/base-layout
layers:
  - files:
      - {src: child.txt, dst: /child.txt}
config:
  env: [B=spec, A=spec1, C=new, A=spec2, NOEQ=x, C=new2]
EOF
        build_ok -q --platform linux/amd64 child
        assert_eq "$(jblob "$ROOT/oci" "$(config_of "$ROOT/oci" "$DIGEST")" -c .config.Env)" \
                '["A=spec2","NOEQ","B=spec","A=base2","=empty","C=new2","NOEQ=x"]' Env
}

@test "2,000 tags are set in one index.json update, in the store and in -o oci:DIR" {
        mkdir -p "$WORK/tags"
        {
                echo "image: example.com/t/tags"
                echo "tags:"
                seq -f ' - t%g' 0 1999
        } >"$WORK/tags/lana-img.yaml"
        local t0 ms
        t0=$(date +%s%N)
        build_ok -q --platform linux/amd64 tags
        ms=$(elapsed_ms "$t0")
        [ "$ms" -lt "$LINEAR_BOUND_MS" ] || { echo "2,000 tags in the store took $ms ms"; return 1; }
        local image=$DIGEST
        run --separate-stderr lana images
        assert_status 0
        assert_eq "$(printf '%s\n' "$output" | grep -c "^example.com/t/tags:t[0-9]* \+${image:0:19} ")" 2000 "image lines"
        local t
        for t in t0 t1999; do
                run --separate-stderr lana inspect "example.com/t/tags:$t"
                assert_status 0
                assert_eq "$(echo "$output" | jq -r .digest)" "$image" "digest of $t"
        done

        t0=$(date +%s%N)
        build_ok -q --platform linux/amd64 -o "oci:$WORK/tags-layout" tags
        ms=$(elapsed_ms "$t0")
        [ "$ms" -lt "$LINEAR_BOUND_MS" ] || { echo "2,000 tags in oci:DIR took $ms ms"; return 1; }
        assert_eq "$(jq --arg d "$image" '[.manifests[] | select(.digest == $d)] | length' "$WORK/tags-layout/index.json")" 2000 "layout refs"
        for t in t0 t1999; do
                run --separate-stderr lana inspect "oci:$WORK/tags-layout:$t"
                assert_status 0
                assert_eq "$(echo "$output" | jq -r .digest)" "$image" "digest of oci:...:$t"
        done
        run --separate-stderr lana fsck
        assert_status 0
}
