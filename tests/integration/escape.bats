#!/usr/bin/env bats
# escape.bats — the container must not reach the host through a descriptor lana-img held (the
# CVE-2024-21626 class: a working directory of /proc/self/fd/N pointing at a host directory,
# from which ".." climbs to the host's /). Each case gives the runtime a hostile working
# directory — from -w or from the image config, the way a registry could — for every descriptor
# number the runtime ever holds, with absolute and relative --root, with --init, -d and -t, and
# checks the program cannot write a canary on the host. It also lists, from inside, the
# descriptors of the container's processes: stdio only. Needs root; skips otherwise.

bats_require_minimum_version 1.5.0

load helpers
load runtime-helpers

setup_file() {
        rt_setup_file
        export ESC_LAYOUT="$BATS_FILE_TMPDIR/esc-layout"
        [ -n "$RT_SKIP" ] || esc_max_fd >"$BATS_FILE_TMPDIR/max-fd"
}
setup() {
        rt_setup
        CANARY_DIR="$WORK/canary"
        mkdir -p "$CANARY_DIR"
        echo original >"$CANARY_DIR/file"
        MAX_FD=$(cat "$BATS_FILE_TMPDIR/max-fd")
        [ "$MAX_FD" -ge 3 ] && [ "$MAX_FD" -le 1024 ] || { echo "measured descriptor bound $MAX_FD is implausible"; return 1; }
}
teardown() { rt_teardown; }

# esc_max_fd: the highest descriptor number `lana-img run` opens (any process of it, up to the
# container's exec), measured with strace over runs with and without --init and -d, plus a margin
# of 8; 64 where strace cannot trace here.
ESC_FD_CALLS=open,openat,openat2,creat,dup,dup2,dup3,fcntl,pipe,pipe2,socket,socketpair,accept,accept4,memfd_create,pidfd_open,pidfd_getfd,epoll_create1,eventfd2,signalfd4,timerfd_create,inotify_init1,fanotify_init,fsopen,fsmount,fspick,open_tree,userfaultfd,perf_event_open,io_uring_setup
esc_max_fd() {
        local log="$BATS_FILE_TMPDIR/strace.log" max=0 n args
        if command -v strace >/dev/null 2>&1; then
                for args in "--rm" "--rm --init" "-d"; do
                        # shellcheck disable=SC2086
                        strace -f -qq -o "$log" -e trace="$ESC_FD_CALLS" \
                                "$LANA_IMG" --root "$RT_ROOT" run $args "$RT_IMAGE" true \
                                >/dev/null 2>&1 || continue
                        # the result of each call that makes a descriptor, and the pairs that
                        # pipe2 and socketpair fill in
                        n=$(grep -oE '(= [0-9]+( <.*>)?$|\[[0-9]+, [0-9]+\])' "$log" |
                                grep -oE '^(= [0-9]+|\[[0-9]+, [0-9]+\])' | grep -oE '[0-9]+' |
                                sort -n | tail -1)
                        [ -n "$n" ] && [ "$n" -gt "$max" ] && max=$n
                done
        fi
        if [ "$max" -eq 0 ]; then
                echo 64
        else
                echo $((max + 8))
        fi
}

# esc_image NAME [--workdir DIR] [--symlink PATH=TARGET]...: the test image with a hostile config,
# added to a layout shared by the file; prints the oci: reference to run.
esc_image() {
        local name=$1
        shift
        [ -d "$ESC_LAYOUT" ] || cp -a "$RT_LAYOUT" "$ESC_LAYOUT"
        python3 "$RT_FIXTURES/rt-config-image.py" "$ESC_LAYOUT" base "$name" "$@" >&2
        echo "oci:$ESC_LAYOUT:$name"
}

# The program every case runs: climb from the working directory as far as ".." goes, then write
# the canary by its host path made relative. Inside the container's root this path does not
# exist; from the host's / it is the canary.
ESCAPE='cd ../../../../../../../../../../../../../../../..; echo pwned >"${CANARY#/}" && echo ESCAPED'

# assert_refused_cwd WHAT: the run failed as a runtime error naming the working directory, and
# the host canary still says "original".
assert_refused_cwd() {
        if [ "$status" -ne 125 ] || [[ "$output$stderr" == *ESCAPED* ]]; then
                echo "$1: status $status, output '$output', stderr '$stderr'"
                return 1
        fi
        [[ "$stderr$output" == *"working directory"* ]] || {
                echo "$1: error does not name the working directory: '$stderr$output'"
                return 1
        }
        assert_eq "$(cat "$CANARY_DIR/file")" original "host canary after $1"
}

@test "escape: -w /proc/self/fd/N is refused for every descriptor the runtime holds (absolute --root)" {
        [[ "$RT_ROOT" == /* ]]
        local n
        for ((n = 0; n <= MAX_FD; n++)); do
                run --separate-stderr env CANARY="$CANARY_DIR/file" "$LANA_IMG" --root "$RT_ROOT" \
                        run --rm -e CANARY="$CANARY_DIR/file" -w "/proc/self/fd/$n" "$RT_IMAGE" \
                        sh -c "$ESCAPE"
                assert_refused_cwd "-w /proc/self/fd/$n"
        done
        echo "# checked descriptors 0..$MAX_FD" >&3
}

@test "escape: -w /proc/self/fd/N is refused for every descriptor the runtime holds (relative --root)" {
        local n rel
        cd "$(dirname "$RT_ROOT")"
        rel=$(basename "$RT_ROOT")
        for ((n = 0; n <= MAX_FD; n++)); do
                run --separate-stderr "$LANA_IMG" --root "$rel" run --rm \
                        -e CANARY="$CANARY_DIR/file" -w "/proc/self/fd/$n" "$RT_IMAGE" sh -c "$ESCAPE"
                assert_refused_cwd "relative root, -w /proc/self/fd/$n"
        done
}

@test "escape: an image whose WorkingDir is /proc/self/fd/N is refused (plain, --init, -d)" {
        local n ref mode
        for ((n = 0; n <= MAX_FD; n++)); do
                ref=$(esc_image "fd$n" --workdir "/proc/self/fd/$n")
                for mode in "--rm" "--rm --init" "-d"; do
                        # shellcheck disable=SC2086
                        run --separate-stderr "$LANA_IMG" --root "$RT_ROOT" run $mode \
                                -e CANARY="$CANARY_DIR/file" "$ref" sh -c "$ESCAPE"
                        assert_refused_cwd "WorkingDir /proc/self/fd/$n with $mode"
                done
        done
        # a failed -d start leaves no container behind
        run rt containers --format json
        assert_eq "$(printf '%s' "$output" | jq length)" 0 "containers left"
}

@test "escape: an image whose WorkingDir is /proc/self/fd/N is refused with -t" {
        command -v script >/dev/null || skip "script (bsdutils) is missing"
        local n ref
        for ((n = 0; n <= MAX_FD; n++)); do
                ref=$(esc_image "tfd$n" --workdir "/proc/self/fd/$n")
                run script -qec "'$LANA_IMG' --root '$RT_ROOT' run --rm -t -e CANARY='$CANARY_DIR/file' '$ref' sh -c '$ESCAPE'" /dev/null
                stderr=
                [ "$status" -eq 125 ] || {
                        echo "-t, WorkingDir /proc/self/fd/$n: status $status, output '$output'"
                        return 1
                }
                assert_refused_cwd "-t, WorkingDir /proc/self/fd/$n"
        done
}

@test "escape: a working directory through a symlink resolves inside the container's root" {
        local ref n links=()
        for ((n = 0; n <= MAX_FD; n++)); do
                links+=(--symlink "wd$n=/proc/self/fd/$n")
        done
        ref=$(esc_image symlinks "${links[@]}" --symlink up=../../../../../../.. \
                --symlink deep/abs=/)
        for ((n = 0; n <= MAX_FD; n++)); do
                rt_run -w "/wd$n" -e CANARY="$CANARY_DIR/file" "$ref" sh -c "$ESCAPE"
                assert_refused_cwd "-w /wd$n -> /proc/self/fd/$n"
        done
        # ".." and absolute targets stop at the container's root
        rt_run -w /up "$ref" pwd
        assert_status 0
        assert_eq "$output" / "pwd in /up -> ../../.."
        rt_run -w /deep/abs/bin "$ref" pwd
        assert_status 0
        assert_eq "$output" /bin "pwd in /deep/abs/bin"
}

@test "escape: a workdir that is fine still works, and a missing one is a clear error" {
        rt_run -w /tmp "$RT_IMAGE" pwd
        assert_status 0
        assert_eq "$output" /tmp
        rt_run -w /no/such/dir "$RT_IMAGE" pwd
        assert_status 125
        assert_contains "$stderr" "working directory /no/such/dir"
        rt_run -w /bin/busybox "$RT_IMAGE" pwd
        assert_status 125
        assert_contains "$stderr" "working directory /bin/busybox"
}

# What the container's processes hold: 0, 1 and 2, nothing else. ls prints one name a line;
# its own directory descriptor shows in /proc/self/fd as the one extra entry (3). PID 1 is the
# shell itself (the listing runs in a subshell, so PID 1 holds only what it was given), or
# lana-init with --init.
LIST_FDS='ls -1 /proc/self/fd; echo --; (ls -1 /proc/1/fd); :'

# assert_stdio_only WHAT: $output is LIST_FDS's.
assert_stdio_only() {
        local got
        got=$(printf '%s\n' "$output" | tr -d '\r' | tr '\n' ' ')
        [ "$got" = "0 1 2 3 -- 0 1 2 " ] || {
                echo "$1: descriptors seen: '$got' (want '0 1 2 3 -- 0 1 2 ')"
                return 1
        }
}

@test "escape: inside the container only stdio is open (plain, --init, -t, -d)" {
        rt_run "$RT_IMAGE" sh -c "$LIST_FDS"
        assert_status 0
        assert_stdio_only plain

        if command -v script >/dev/null; then
                run script -qec "'$LANA_IMG' --root '$RT_ROOT' run --rm -t '$RT_IMAGE' sh -c '$LIST_FDS'" /dev/null
                assert_status 0
                assert_stdio_only -t
        fi

        local id
        id=$(rt run -d "$RT_IMAGE" sh -c "$LIST_FDS")
        rt_wait_exited "$id" >/dev/null
        run cat "$RT_ROOT/containers/$id/log"
        assert_stdio_only -d
        rt rm -f "$id" >/dev/null

        rt_need_init
        rt_run --init "$RT_IMAGE" sh -c "$LIST_FDS"
        assert_status 0
        assert_stdio_only --init
}

@test "escape: --user lookups read the image's /etc/passwd inside its root, never through /proc" {
        local ref
        ref=$(esc_image passwd-link --symlink etc/passwd=/proc/self/fd/0)
        printf 'evil:x:4242:4242::/:/bin/sh\n' >"$WORK/passwd"
        # -i: the container's stdin is the file, so /proc/self/fd/0 would read it
        run --separate-stderr "$LANA_IMG" --root "$RT_ROOT" run --rm -i -u evil "$ref" id -u <"$WORK/passwd"
        assert_status 125
        assert_contains "$stderr" "user 'evil' not found"
        [[ "$output" != *4242* ]]
}
