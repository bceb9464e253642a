#!/usr/bin/env bats
# errors.bats — every bad input gets its documented exit code (2 usage, 3 invalid input, 4 not
# found), one line on stderr that names where the problem is (spec file:line and key, or the
# file), nothing on stdout, and no change to the store.

load helpers

setup_file() { lana_setup_file; }
setup() {
        lana_setup
        # a store with one image in it, and its snapshot
        small_spec "$WORK/small" example.com/t/small
        build_ok -q --platform linux/amd64 small
        BEFORE=$(store_snapshot)
        mkdir -p "$WORK/e"
        echo data >"$WORK/e/data.txt"
}

unchanged() {
        assert_same_text "$(store_snapshot)" "$BEFORE" "store after the failed command"
}

# fails SPEC-NAME STATUS [BUILD-ARGS...]: builds e/SPEC-NAME (from stdin when given) and expects
# STATUS, one error line and an unchanged store.
fails() {
        local spec=$1 want=$2
        shift 2
        [ -t 0 ] || cat >"$WORK/e/$spec"
        run --separate-stderr lana build -q -f "e/$spec" "$@" e
        assert_status "$want" || return 1
        assert_one_line_error || return 1
        unchanged
}

@test "unknown key: exit 3, file:line and the key path" {
        fails unknown.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
        colour: red
EOF
        assert_contains "$stderr" "e/unknown.yaml:6: layers[0].files[0].colour: unknown key"

        fails unknown-top.yaml 3 <<'EOF'
image: example.com/t/e
imgae_tags: [x]
EOF
        assert_contains "$stderr" "e/unknown-top.yaml:2: imgae_tags: unknown key"

        fails unknown-config.yaml 3 <<'EOF'
image: example.com/t/e
config:
  entrypoint: [/x]
  healthcheck: {test: [x]}
EOF
        assert_contains "$stderr" "e/unknown-config.yaml:4: config.healthcheck: unknown key"
}

@test "missing src file: exit 3, file:line, key and the path" {
        fails missing.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
      - src: not-there.txt
        dst: /x.txt
EOF
        assert_contains "$stderr" "e/missing.yaml:6: layers[0].files[1].src: not-there.txt: No such file or directory"
}

@test "duplicate destination, in one layer or across layers: exit 3, both places named" {
        fails dup.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /bin/x
      - src: data.txt
        dst: /bin/x
EOF
        assert_contains "$stderr" "e/dup.yaml:6: layers[0].files[1]: destination /bin/x is already used by e/dup.yaml:4: layers[0].files[0]"

        fails dup2.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /bin/x
  - files:
      - src: data.txt
        dst: /bin/x
EOF
        assert_contains "$stderr" "e/dup2.yaml:7: layers[1].files[0]: destination /bin/x is already used by e/dup2.yaml:4: layers[0].files[0]"

        # a file where another entry needs a directory
        mkdir -p "$WORK/e/tree/x"
        echo y >"$WORK/e/tree/x/y"
        fails dup3.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: tree/
        dst: /opt/
      - src: data.txt
        dst: /opt/x
EOF
        assert_contains "$stderr" "destination /opt/x is already used by"
}

@test "bad mode \"0799\": exit 3, file:line and key" {
        fails mode.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
        mode: "0799"
EOF
        assert_contains "$stderr" "e/mode.yaml:6: layers[0].files[0].mode: '0799'"
}

@test "bad platform linux/sparc: exit 3, in the spec or on the command line" {
        fails plat.yaml 3 <<'EOF'
image: example.com/t/e
platforms: [linux/amd64, linux/sparc]
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        assert_contains "$stderr" "e/plat.yaml:2: platforms[1]:"
        assert_contains "$stderr" "linux/sparc"

        fails ok.yaml 3 --platform linux/sparc <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        assert_contains "$stderr" "--platform"
        assert_contains "$stderr" "linux/sparc"
}

@test "ELF binary for another machine: exit 3, names the file and the platform" {
        need_hello arm64
        cp "$HELLO_ARM64" "$WORK/e/hello"
        fails elf.yaml 3 <<'EOF'
image: example.com/t/e
platforms: [linux/amd64]
layers:
  - files:
      - src: data.txt
        dst: /data.txt
      - src: hello
        dst: /bin/hello
EOF
        assert_contains "$stderr" "e/elf.yaml:7: layers[0].files[1]: $WORK/e/hello is an ELF binary for AArch64 (arm64), but the platform is linux/amd64"
}

@test "a FIFO as src: exit 3, names the FIFO" {
        mkfifo "$WORK/e/fifo"
        fails fifo.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: fifo
        dst: /fifo
EOF
        assert_contains "$stderr" "e/fifo.yaml:4: layers[0].files[0]: $WORK/e/fifo is a FIFO"
}

@test "a socket as src: exit 3, names the socket" {
        skip_unless python3
        python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$WORK/e/sock"
        [ -S "$WORK/e/sock" ]
        fails sock.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: sock
        dst: /sock
EOF
        assert_contains "$stderr" "e/sock.yaml:4: layers[0].files[0]: $WORK/e/sock is a socket"
}

@test "a src directory containing a FIFO: exit 3, names the FIFO inside" {
        mkdir -p "$WORK/e/dir/deeper"
        echo a >"$WORK/e/dir/a.txt"
        mkfifo "$WORK/e/dir/deeper/pipe"
        fails fifodir.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: dir/
        dst: /opt/dir/
EOF
        assert_contains "$stderr" "e/fifodir.yaml:4: layers[0].files[0]: $WORK/e/dir/deeper/pipe is a FIFO"
}

@test "invalid YAML: exit 3, file:line of the syntax error" {
        fails bad.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
     dst: /data.txt
EOF
        assert_match "$stderr" '^lana-img: e/bad\.yaml:[1-9][0-9]*: invalid YAML'

        fails bad2.yaml 3 <<'EOF'
image: example.com/t/e
layers: [
EOF
        assert_match "$stderr" '^lana-img: e/bad2\.yaml:[1-9][0-9]*: invalid YAML'
}

@test "a spec that is not a mapping, or empty: exit 3, names the file" {
        fails list.yaml 3 <<'EOF'
- image: example.com/t/e
EOF
        assert_contains "$stderr" "e/list.yaml"
        : >"$WORK/e/empty.yaml"
        fails empty.yaml 3 </dev/null
        assert_contains "$stderr" "e/empty.yaml"
}

@test "missing spec: exit 3, names the path" {
        run --separate-stderr lana build -q -f e/nope.yaml e
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "e/nope.yaml"
        unchanged
        run --separate-stderr lana build -q "$WORK/nodir"
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "$WORK/nodir/lana-img.yaml"
        unchanged
}

@test "unknown base image: exit 4, names the base" {
        fails base.yaml 4 <<'EOF'
image: example.com/t/e
base: example.com/no/such-base:1
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        assert_contains "$stderr" "e/base.yaml"
        assert_contains "$stderr" "example.com/no/such-base:1"

        fails base2.yaml 4 <<EOF
image: example.com/t/e
base: oci:$WORK/no-layout:latest
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        assert_contains "$stderr" "$WORK/no-layout"
}

@test "bad -t reference: exit 3, names the reference" {
        write_spec "$WORK/e/lana-img.yaml" <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        local ref
        for ref in 'Upper/Case:1' 'bad ref' 'example.com/x:bad tag' 'example.com/x:' 'example.com//x'; do
                run --separate-stderr lana build -q -t "$ref" e
                assert_status 3
                assert_one_line_error
                assert_contains "$stderr" "$ref"
                unchanged
        done
}

@test "-t with a digest: exit 3 (a name cannot claim a digest it does not have)" {
        write_spec "$WORK/e/lana-img.yaml" <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /data.txt
EOF
        local zero
        zero=sha256:$(printf '%064d' 0)
        run --separate-stderr lana build -q -t "example.com/t/e@$zero" e
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "example.com/t/e@$zero"
        unchanged
}

@test "bad values in the spec: exit 3 with the key" {
        fails dst.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: relative/path
EOF
        assert_contains "$stderr" "e/dst.yaml:5: layers[0].files[0].dst:"

        fails dotdot.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: data.txt
        dst: /opt/../etc/passwd
EOF
        assert_contains "$stderr" "layers[0].files[0].dst"
        assert_contains "$stderr" ".."

        fails placeholder.yaml 3 <<'EOF'
image: example.com/t/e
layers:
  - files:
      - src: target/{nope}/x
        dst: /x
EOF
        assert_contains "$stderr" "layers[0].files[0].src"
        assert_contains "$stderr" "{nope}"

        fails signal.yaml 3 <<'EOF'
image: example.com/t/e
config:
  stop_signal: SIGNOPE
EOF
        assert_contains "$stderr" "e/signal.yaml:3: config.stop_signal:"

        fails port.yaml 3 <<'EOF'
image: example.com/t/e
config:
  expose: [8080/tcp, 70000]
EOF
        assert_contains "$stderr" "config.expose[1]"

        fails tagged.yaml 3 <<'EOF'
image: example.com/t/e:1.0
EOF
        assert_contains "$stderr" "e/tagged.yaml:1: image:"

        fails compression.yaml 3 <<'EOF'
image: example.com/t/e
compression: lzma
EOF
        assert_contains "$stderr" "e/compression.yaml:2: compression:"
}

@test "SOURCE_DATE_EPOCH that is not a Unix time: exit 3" {
        small_spec "$WORK/e" example.com/t/e
        SOURCE_DATE_EPOCH=yesterday run --separate-stderr lana build -q e
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "SOURCE_DATE_EPOCH"
        assert_contains "$stderr" "yesterday"
        unchanged
}

@test "unknown command: exit 2" {
        run --separate-stderr lana frobnicate
        assert_status 2
        assert_one_line_error
        assert_contains "$stderr" "frobnicate"
        unchanged
        run --separate-stderr "$LANA_IMG"
        assert_status 2
        assert_eq "$output" "" stdout
}

@test "bad --jobs: exit 2" {
        small_spec "$WORK/e" example.com/t/e
        local j
        for j in 0 x 257 -1 ''; do
                run --separate-stderr lana build -q --jobs "$j" e
                assert_status 2
                assert_one_line_error
                assert_contains "$stderr" "--jobs '$j'"
                unchanged
        done
}

@test "usage errors of other commands: exit 2" {
        run --separate-stderr lana images --format xml
        assert_status 2
        assert_contains "$stderr" xml
        run --separate-stderr lana build -q a b
        assert_status 2
        run --separate-stderr lana inspect
        assert_status 2
        run --separate-stderr lana tag only-one
        assert_status 2
        run --separate-stderr lana build --no-such-option
        assert_status 2
        unchanged
}

@test "inspect, tag and rmi of a missing image: exit 4" {
        run --separate-stderr lana inspect example.com/no/such:1
        assert_status 4
        assert_one_line_error
        assert_contains "$stderr" "example.com/no/such:1"
        run --separate-stderr lana inspect "sha256:$(printf '%064d' 0)"
        assert_status 4
        assert_one_line_error
        run --separate-stderr lana tag example.com/no/such:1 example.com/t/x:1
        assert_status 4
        assert_one_line_error
        run --separate-stderr lana rmi example.com/no/such:1
        assert_status 4
        assert_one_line_error
        unchanged
        # and on a store that does not exist
        ROOT="$WORK/nostore" run --separate-stderr lana inspect example.com/t/small
        assert_status 4
        [ ! -e "$WORK/nostore" ]
}

@test "--output foo:bar: exit 3, names the output" {
        small_spec "$WORK/e" example.com/t/e
        run --separate-stderr lana build -q --output foo:bar e
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "foo:bar"
        [ ! -e foo ] && [ ! -e bar ] || {
                echo "--output foo:bar created a file"
                return 1
        }
        unchanged
        run --separate-stderr lana build -q --output oci: e
        assert_status 3
        assert_one_line_error
        unchanged
}

@test "--digest-file into a missing directory: refused before building" {
        small_spec "$WORK/e" example.com/t/e
        run --separate-stderr lana build -q --digest-file "$WORK/no/such/dir/digest" e
        assert_status 2
        assert_one_line_error
        assert_contains "$stderr" "$WORK/no/such/dir/digest"
        unchanged
}

@test "ambiguous or digest-holding names: exit 3" {
        small_spec "$WORK/e" example.com/t/e
        # two different images (another timestamp) in one layout; two names for one image
        # would not be ambiguous
        build_ok -q -t a:1 -o "oci:$WORK/two" e
        SOURCE_DATE_EPOCH=1 build_ok -q -t b:2 -o "oci:$WORK/two" e
        build_ok -q -t c:1 -t d:2 -o "oci:$WORK/same" e
        run --separate-stderr lana inspect "oci:$WORK/same"
        assert_status 0
        run --separate-stderr lana inspect "oci:$WORK/two"
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "$WORK/two"
        run --separate-stderr lana inspect "oci:$WORK/two:1"
        assert_status 0
        run --separate-stderr lana tag example.com/t/small "example.com/t/x@sha256:$(printf '%064d' 0)"
        assert_status 3
        assert_one_line_error
        unchanged
}

@test "ambiguous oci-archive: exit 3, the message names the archive, not a temporary directory" {
        small_spec "$WORK/e" example.com/t/e
        build_ok -q -t a:1 -o "oci:$WORK/two" e
        SOURCE_DATE_EPOCH=1 build_ok -q -t b:2 -o "oci:$WORK/two" e
        (cd "$WORK/two" && tar -cf "$WORK/two.tar" oci-layout index.json blobs)
        run --separate-stderr lana inspect "oci-archive:$WORK/two.tar"
        assert_status 3
        assert_one_line_error
        assert_contains "$stderr" "$WORK/two.tar"
        assert_not_contains "$stderr" "lana-img-archive-"
        run --separate-stderr lana inspect "oci-archive:$WORK/two.tar:nope"
        assert_status 4
        assert_one_line_error
        assert_contains "$stderr" "$WORK/two.tar"
}

# ---- spec parser limits (issue 10) ----

# ms_since T0: milliseconds since T0 (from `date +%s%N`)
ms_since() {
        echo $((($(date +%s%N) - $1) / 1000000))
}

# The bound for one large spec, parse and build: 0.2 to 0.9 s here; the quadratic parser took
# 86 s on the same 80,000 labels and 71 s to refuse the 80,000 aliases.
SPEC_BOUND_MS=5000

@test "spec limits: 80,000 labels (under 1 MiB) build in linear time" {
        {
                echo "image: example.com/t/labels"
                echo "config:"
                echo " labels:"
                seq -f '  %g: v' 0 79999
        } >"$WORK/e/labels.yaml"
        [ "$(stat -c %s "$WORK/e/labels.yaml")" -lt 1048576 ]
        local t0
        t0=$(date +%s%N)
        build_ok -q -f e/labels.yaml e
        local ms
        ms=$(ms_since "$t0")
        run --separate-stderr lana inspect example.com/t/labels
        assert_status 0
        assert_eq "$(echo "$output" | jq '.config.config.Labels | length')" 80000 "label count"
        [ "$ms" -lt "$SPEC_BOUND_MS" ] || { echo "80,000 labels took $ms ms"; return 1; }
}

@test "spec limits: 80,000 aliases or 40,000 anchors are refused at once, exit 3, with the line" {
        {
                echo "image: example.com/t/e"
                echo "tags: &t [a]"
                echo "config:"
                echo " cmd:"
                yes ' - *t' | head -n 80000
        } >"$WORK/aliases.yaml"
        [ "$(stat -c %s "$WORK/aliases.yaml")" -lt 1048576 ]
        local t0 ms
        t0=$(date +%s%N)
        fails aliases.yaml 3 <"$WORK/aliases.yaml"
        ms=$(ms_since "$t0")
        assert_contains "$stderr" "e/aliases.yaml:69: more than 64 YAML aliases"
        [ "$ms" -lt "$SPEC_BOUND_MS" ] || { echo "80,000 aliases took $ms ms"; return 1; }

        # each alias with its own anchor: libfyaml's cost grows with anchors times nodes
        {
                echo "image: example.com/t/e"
                echo "config:"
                echo " cmd:"
                seq -f ' - &%g x' 0 39999 | sed 'p; s/&\([0-9]*\) x/*\1/'
        } >"$WORK/anchors.yaml"
        [ "$(stat -c %s "$WORK/anchors.yaml")" -lt 1048576 ]
        t0=$(date +%s%N)
        fails anchors.yaml 3 <"$WORK/anchors.yaml"
        ms=$(ms_since "$t0")
        assert_contains "$stderr" "e/anchors.yaml:132: more than 64 YAML anchors"
        [ "$ms" -lt "$SPEC_BOUND_MS" ] || { echo "40,000 anchors took $ms ms"; return 1; }

        fails alias.yaml 3 <<'EOF2'
image: example.com/t/e
tags: &t [a]
config:
  cmd: *t
EOF2
        assert_contains "$stderr" "e/alias.yaml:4: config.cmd: YAML aliases are not supported"
}

@test "spec limits: a duplicate key: exit 3, file:line and the key path" {
        fails dupkey.yaml 3 <<'EOF2'
image: example.com/t/e
config:
  labels:
    a: one
    b: two
    a: three
EOF2
        assert_contains "$stderr" "e/dupkey.yaml:6: config.labels.a: duplicate key (first at line 4)"
}

@test "spec limits: a raw NUL or control character: exit 3, the key and line named" {
        # "adv/a" used to be built, and named, with "evil" never seen
        printf 'image: adv/a\0evil\n' >"$WORK/nul.yaml"
        fails nul.yaml 3 <"$WORK/nul.yaml"
        assert_contains "$stderr" "e/nul.yaml:1: image: contains a control character (U+0000)"
        run --separate-stderr lana inspect docker.io/adv/a
        assert_status 4

        printf 'image: example.com/t/e\nconfig:\n  labels:\n    a: "x\033[2Jy"\n' >"$WORK/esc.yaml"
        fails esc.yaml 3 <"$WORK/esc.yaml"
        assert_contains "$stderr" "e/esc.yaml:4: config.labels.a: contains a control character (U+001B)"

        fails escaped.yaml 3 <<'EOF2'
image: example.com/t/e
tags: ["a\nb"]
EOF2
        assert_contains "$stderr" "e/escaped.yaml:2: tags[0]: contains a control character (U+000A)"
}

@test "spec limits: config.workdir must be absolute and clean, not under /proc: exit 3" {
        local w
        for w in /proc/self/fd/4 /proc /app/../proc/1/cwd /a/./b //a rel/ative; do
                printf 'image: example.com/t/e\nconfig:\n  workdir: %s\n' "$w" >"$WORK/wd.yaml"
                fails wd.yaml 3 <"$WORK/wd.yaml"
                assert_contains "$stderr" "e/wd.yaml:3: config.workdir: '$w' "
        done
        assert_contains "$stderr" "must be an absolute path"
}

@test "spec limits: a spec over 1 MiB: exit 3, not 1" {
        { echo "image: example.com/t/e"; head -c 1048576 /dev/zero | tr '\0' '#'; } \
                >"$WORK/big.yaml"
        fails big.yaml 3 <"$WORK/big.yaml"
        assert_contains "$stderr" "larger than 1048576 bytes"
}

# ---- run option validation (issue 10) ----

@test "run: --cpus and --pids-limit refuse NaN, infinities, out-of-range and malformed numbers with usage (2)" {
        local v
        for v in nan -nan NaN inf -inf 1e400 0 0.001 -1 1025 '' abc 1x; do
                run --separate-stderr lana run --rm --cpus "$v" some/image true
                assert_status 2
                assert_one_line_error
                assert_contains "$stderr" "--cpus '$v'"
        done
        for v in 0 -1 '' abc 99999999999999999999999; do
                run --separate-stderr lana run --rm --pids-limit "$v" some/image true
                assert_status 2
                assert_contains "$stderr" "--pids-limit '$v'"
        done
}
