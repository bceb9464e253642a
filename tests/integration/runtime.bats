#!/usr/bin/env bats
# runtime.bats — `lana-img run` and the container records (`containers`, `kill`, `rm`) against the
# real kernel: what a user sees (output, exit codes, signals, env, users, mounts, terminals,
# detached containers), what the container cannot do (syscalls, devices, kernel files, setuid,
# other processes, the network), limits that must really bite (memory, pids, cpu), layers built to
# attack the unpacker, and whether 200 runs leave anything behind. Needs root; skips otherwise.
# What depends on the kernel (cgroup controllers and layout, swap accounting, overlayfs and its
# options, the i386 entry, keyrings, /proc files) is probed first and skips with the reason when
# the host lacks it (runtime-helpers.bash); what the host has must then work.
#
# The image (runtime-helpers.bash) holds busybox, rootfs/etc/{passwd,group}, an empty /tmp and
# the static helpers from fixtures/: /bin/probe (tries one privileged thing per argument and
# prints "NAME: OK|ERRNO"), /bin/probe-suid (the same, setuid root) and /bin/hog (allocates and
# touches N MiB).

bats_require_minimum_version 1.5.0

load helpers
load runtime-helpers

setup_file() { rt_setup_file; }
setup() { rt_setup; }
teardown() { rt_teardown; }

# ---- what the user sees ----

@test "run: stdout and stderr reach the caller and the program's exit code is returned" {
        rt_run "$RT_IMAGE" sh -c 'echo out; echo err >&2; exit 3'
        assert_status 3
        assert_eq "$output" out stdout
        assert_eq "$stderr" err stderr
}

@test "run: a TERM trap runs; as PID 1 an untrapped TERM is ignored" {
        rt_run "$RT_IMAGE" sh -c 'trap "echo trapped; exit 7" TERM; kill -TERM $$; sleep 5'
        assert_status 7
        assert_eq "$output" trapped
        # as PID 1 of its namespace the shell has no default action for TERM (as in Docker)
        rt_run "$RT_IMAGE" sh -c 'kill -TERM $$; echo still here'
        assert_status 0
        assert_eq "$output" "still here"
}

@test "run --init: a program killed by a signal exits 128+N" {
        rt_need_init
        # under --init the shell is not PID 1 and dies of TERM: 128 + 15
        rt_run --init "$RT_IMAGE" sh -c 'kill -TERM $$; sleep 5; echo not reached'
        assert_status 143
        assert_eq "$output" ""
}

@test "run: an unknown command exits 127 with one line" {
        rt_run -127 "$RT_IMAGE" no-such-command
        assert_status 127
        assert_one_line_error
        assert_contains "$stderr" "no-such-command"
        rt_run -127 "$RT_IMAGE" /no/such/file
        assert_status 127
        assert_one_line_error
        assert_contains "$stderr" "/no/such/file"
}

@test "run: a file that cannot be executed exits 126 with one line" {
        rt_run "$RT_IMAGE" /etc/passwd
        assert_status 126
        assert_one_line_error
        assert_contains "$stderr" "/etc/passwd"
        rt_run "$RT_IMAGE" /tmp
        assert_status 126
        assert_one_line_error
}

@test "run: a bad option is a usage error (2, one line) and starts nothing" {
        local bad
        for bad in --bogus "--memory lots" "--network bridge" "--pids-limit 0" "--cpus -1" \
                "--cap-add NOT_A_CAP" "--security-opt apparmor=x" "-e =x" "-v relative:/x" \
                "-w relative" "--name a/b"; do
                # shellcheck disable=SC2086
                run --separate-stderr "$LANA_IMG" --root "$RT_ROOT" run $bad "$RT_IMAGE" true
                echo "option: $bad"
                assert_status 2
                assert_one_line_error
        done
        [ ! -d "$LANA_IMG_STATE" ] || [ -z "$(ls -A "$LANA_IMG_STATE")" ]
}

@test "run: an image that does not exist exits 125 with one line" {
        rt_run lana-img-tests/no-such-image:1 true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "no-such-image"
}

@test "run: an image for another architecture exits 125 naming both platforms, and unpacks nothing" {
        local host foreign
        case "$(uname -m)" in
        x86_64) host=amd64 foreign=arm64 ;;
        aarch64) host=arm64 foreign=amd64 ;;
        *) skip "the test knows amd64 and arm64 hosts, not $(uname -m)" ;;
        esac
        # a one-file image (no binary: nothing for the build's ELF check to refuse)
        small_spec ctx lana-img-tests/foreign
        lana build -q --platform "linux/$foreign" ctx >/dev/null
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm lana-img-tests/foreign true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "lana-img-tests/foreign is for linux/$foreign; this host is linux/$host"
        # --platform picks the foreign manifest out of a multi-platform image: refused the same way
        lana build -q --platform "linux/$host,linux/$foreign" -t lana-img-tests/foreign:multi ctx >/dev/null
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm --platform "linux/$foreign" \
                lana-img-tests/foreign:multi true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "is for linux/$foreign; this host is linux/$host"
        # refused before any layer was unpacked or any container directory made
        assert_eq "$(ls -A "$ROOT/snapshots" 2>/dev/null)" "" snapshots
        assert_eq "$(ls -A "$ROOT/containers" 2>/dev/null)" "" "container directories"
        [ ! -d "$LANA_IMG_STATE" ] || [ -z "$(ls -A "$LANA_IMG_STATE")" ]
}

@test "run: SIGTERM sent to lana-img run is forwarded to the container" {
        mkdir -p "$WORK/sig"
        "$LANA_IMG" --root "$RT_ROOT" run --rm -v "$WORK/sig:/sig" "$RT_IMAGE" \
                sh -c 'trap "exit 42" TERM; touch /sig/ready; sleep 100 & wait' >"$WORK/out" 2>"$WORK/err" &
        local pid=$!
        # PID 1 ignores a signal it has no handler for: send it once the trap is set
        rt_wait_file "$WORK/sig/ready" || {
                kill -9 "$pid"
                cat "$WORK/err"
                return 1
        }
        local t0=$SECONDS
        kill -TERM "$pid"
        local status=0
        wait "$pid" || status=$?
        echo "stderr: $(cat "$WORK/err")"
        assert_eq "$status" 42 "exit status"
        [ $((SECONDS - t0)) -lt 10 ]
}

@test "run: environment from the image, --env-file, -e K=V and -e NAME; later wins" {
        printf 'FILE_VAR=from file\n# a comment\n\nIMG_VAR=from-file\n' >"$WORK/env"
        HOST_VAR=from-host rt_run --env-file "$WORK/env" -e A=1 -e 'B=two words' -e HOST_VAR \
                -e UNSET_HOST_VAR "$RT_IMAGE" env
        assert_status 0
        local env
        env=$(printf '%s\n' "$output" | LC_ALL=C sort)
        assert_line "$env" '^A=1$'
        assert_line "$env" '^B=two words$'
        assert_line "$env" '^FILE_VAR=from file$'
        assert_line "$env" '^IMG_VAR=from-file$'
        assert_line "$env" '^HOST_VAR=from-host$'
        assert_line "$env" '^PATH=/bin$'
        assert_line "$env" '^HOME=/root$'
        assert_line "$env" '^HOSTNAME=[0-9a-f]{12}$'
        assert_not_contains "$env" UNSET_HOST_VAR
        # -e after --env-file overrides it, and the image's value
        rt_run --env-file "$WORK/env" -e IMG_VAR=from-e "$RT_IMAGE" sh -c 'echo "$IMG_VAR"'
        assert_eq "$output" from-e
        rt_run "$RT_IMAGE" sh -c 'echo "$IMG_VAR"'
        assert_eq "$output" from-image
}

@test "run -u: users by name and id from the image's /etc/passwd; unknown names exit 125" {
        rt_run -u nobody "$RT_IMAGE" sh -c 'id; echo "$HOME"'
        assert_status 0
        assert_eq "$output" "uid=65534(nobody) gid=65534(nobody)
/nonexistent"
        rt_run -u 65532 "$RT_IMAGE" id
        assert_status 0
        assert_eq "$output" "uid=65532(nonroot) gid=65532(nonroot)"
        rt_run -u 1234 "$RT_IMAGE" id -u
        assert_status 0
        assert_eq "$output" 1234
        rt_run -u unknown "$RT_IMAGE" id
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "'unknown'"
}

@test "run -u USER:GROUP: groups by name and id from the image's /etc/group" {
        rt_run -u 65532:65532 "$RT_IMAGE" id
        assert_status 0
        assert_eq "$output" "uid=65532(nonroot) gid=65532(nonroot)"
        rt_run -u nobody:nonroot "$RT_IMAGE" id
        assert_status 0
        assert_eq "$output" "uid=65534(nobody) gid=65532(nonroot)"
        rt_run -u nobody:nogroup "$RT_IMAGE" id
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "'nogroup'"
}

@test "run -w: the working directory; a missing one exits 125 naming it" {
        rt_run -w /etc "$RT_IMAGE" pwd
        assert_status 0
        assert_eq "$output" /etc
        rt_run "$RT_IMAGE" pwd
        assert_eq "$output" /
        # not created (Docker would create it): an error naming the directory
        rt_run -w /no/such/dir "$RT_IMAGE" pwd
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" /no/such/dir
}

@test "run --read-only: the root cannot be written; a --tmpfs can" {
        rt_run "$RT_IMAGE" sh -c 'touch /x && echo wrote'
        assert_eq "$output" wrote "control: a normal root is writable"
        rt_run --read-only "$RT_IMAGE" sh -c 'touch /x; echo "root $?"; touch /tmp/x; echo "tmp $?"'
        assert_status 0
        assert_eq "$output" "root 1
tmp 1"
        assert_contains "$stderr" "Read-only file system"
        rt_run --read-only --tmpfs /tmp "$RT_IMAGE" sh -c 'touch /tmp/x && echo tmp ok; grep " /tmp " /proc/mounts'
        assert_status 0
        assert_line "$output" '^tmp ok$'
        assert_line "$output" '^tmpfs /tmp tmpfs rw,nosuid,nodev'
}

@test "run -v: a host directory read-write, and read-only with :ro" {
        mkdir -p "$WORK/vol"
        echo host >"$WORK/vol/from-host"
        rt_run -v "$WORK/vol:/data" "$RT_IMAGE" sh -c 'cat /data/from-host; echo container >/data/from-container'
        assert_status 0
        assert_eq "$output" host
        assert_eq "$(cat "$WORK/vol/from-container")" container "file written through the volume"
        local before
        before=$(rt_tree "$WORK/vol")
        rt_run -v "$WORK/vol:/data:ro" "$RT_IMAGE" sh -c 'cat /data/from-host; echo x >/data/ro-write; echo "write $?"; rm /data/from-host; echo "rm $?"'
        assert_status 0
        assert_eq "$output" "host
write 1
rm 1"
        assert_same_text "$(rt_tree "$WORK/vol")" "$before" "the :ro volume"
}

@test "run -v :ro: mounts below the volume are read-only too" {
        mkdir -p "$WORK/vol/sub"
        mount -t tmpfs -o size=1m lana-img-test "$WORK/vol/sub" || skip "cannot mount a tmpfs here"
        RT_UMOUNT="$WORK/vol/sub"
        echo host >"$WORK/vol/sub/file"
        rt_run -v "$WORK/vol:/data:ro" "$RT_IMAGE" sh -c 'echo x >/data/top; echo "top $?"; echo x >/data/sub/file; echo "sub $?"'
        umount "$WORK/vol/sub" && RT_UMOUNT=
        assert_status 0
        assert_eq "$output" "top 1
sub 1" "writes into the :ro volume"
}

@test "run --hostname: the UTS name and \$HOSTNAME; by default the id's first 12 digits" {
        rt_run --hostname box-1 "$RT_IMAGE" sh -c 'hostname; echo "$HOSTNAME"'
        assert_status 0
        assert_eq "$output" "box-1
box-1"
        rt_run "$RT_IMAGE" hostname
        assert_match "$output" '^[0-9a-f]{12}$'
        [ "$output" != "$(hostname)" ]
}

@test "run --init: orphans are reaped (without it they stay zombies)" {
        rt_need_init
        # PID 1 is `sleep` (never waits); the orphaned sleep 0.1 has exited by the time ps runs
        local prog='(sleep 0.1 &); (sleep 1; ps -o stat,comm) & exec sleep 2'
        rt_run "$RT_IMAGE" sh -c "$prog"
        assert_status 0
        assert_line "$output" '^Z +sleep' # control: the test can see a zombie
        rt_run --init "$RT_IMAGE" sh -c "$prog"
        assert_status 0
        assert_line "$output" 'lana-init'
        if printf '%s\n' "$output" | grep -Eq '^Z'; then
                echo "zombie with --init:"
                echo "$output"
                return 1
        fi
}

@test "run --init: the container ends with the program, even when a daemon left its group" {
        rt_need_init
        local prog='setsid sleep 12 & sleep 0.2; exit 3'
        local t0=$SECONDS
        rt_run "$RT_IMAGE" sh -c "$prog"
        assert_status 3
        [ $((SECONDS - t0)) -lt 10 ] # control: without --init PID 1's exit ends it all
        t0=$SECONDS
        run --separate-stderr timeout 30 "$LANA_IMG" --root "$RT_ROOT" run --rm --init "$RT_IMAGE" sh -c "$prog"
        echo "took $((SECONDS - t0)) s"
        assert_status 3
        [ $((SECONDS - t0)) -lt 10 ]
}

@test "run -i: stdin reaches the program; without -i it reads nothing" {
        run --separate-stderr bash -c "echo hello | '$LANA_IMG' --root '$RT_ROOT' run --rm -i $RT_IMAGE cat"
        assert_status 0
        assert_eq "$output" hello
        run --separate-stderr bash -c "echo hello | '$LANA_IMG' --root '$RT_ROOT' run --rm $RT_IMAGE cat"
        assert_status 0
        assert_eq "$output" ""
}

@test "run -t: the program gets a terminal" {
        skip_unless script
        run script -qec "'$LANA_IMG' --root '$RT_ROOT' run --rm -t $RT_IMAGE tty" /dev/null
        assert_status 0
        assert_eq "$(printf '%s' "$output" | tr -d '\r')" /dev/pts/0
        rt_run "$RT_IMAGE" tty
        assert_status 1
        assert_eq "$output" "not a tty"
        # -it: input typed at the terminal, the exit status comes back through it
        run bash -c "printf 'echo typed-\$((6*7))\nexit 4\n' | script -qec \"'$LANA_IMG' --root '$RT_ROOT' run --rm -it $RT_IMAGE sh\" /dev/null; exit \${PIPESTATUS[1]}"
        assert_status 4
        assert_line "$(printf '%s' "$output" | tr -d '\r')" '^typed-42$'
}

@test "run -d: id printed; containers lists it; rm refuses while running; kill; exit code; rm" {
        run --separate-stderr rt run -d --name rt-detached "$RT_IMAGE" sleep 100
        assert_status 0
        assert_match "$output" "$HEX64_RE"
        local id=$output
        assert_eq "$(rt_field "$id" running)" true running
        assert_eq "$(rt_field "$id" name)" rt-detached name
        run rt containers
        assert_status 0
        assert_line "$output" "^${id:0:12} +rt-detached +$RT_IMAGE +running +sleep 100$"
        [ -d "$RT_ROOT/containers/$id" ]
        # a running container is not removed without -f
        run --separate-stderr rt rm rt-detached
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" "running"
        assert_eq "$(rt_field "$id" running)" true "still running after rm without -f"
        # kill: SIGKILL by default, 128+9
        run rt kill "${id:0:12}"
        assert_status 0
        local code
        code=$(rt_wait_exited "$id")
        assert_eq "$code" 137 exit_code
        assert_eq "$(rt_field "$id" running)" false running
        run rt containers
        assert_line "$output" "^${id:0:12} .* exited \(137\)"
        run rt kill "$id"
        assert_status 1
        run --separate-stderr rt rm "$id"
        assert_status 0
        assert_eq "$output" "$id"
        assert_eq "$(rt containers --format json | jq length)" 0 "records left"
        [ ! -e "$RT_ROOT/containers/$id" ]
        [ ! -e "$LANA_IMG_STATE/$id" ]
}

@test "run -d: a command that cannot start exits 127 with one line and leaves no record" {
        run -127 --separate-stderr "$LANA_IMG" --root "$RT_ROOT" run -d "$RT_IMAGE" no-such-command
        assert_status 127
        assert_one_line_error
        assert_contains "$stderr" no-such-command
        assert_eq "$(rt containers --format json | jq length)" 0 records
        assert_eq "$(ls -A "$RT_ROOT/containers")" "" "container directories"
}

@test "kill ID SIGNAL delivers the signal; rm -f removes a running container" {
        local id
        mkdir -p "$WORK/sig"
        id=$(rt run -d -v "$WORK/sig:/sig" "$RT_IMAGE" sh -c 'trap "exit 5" TERM; touch /sig/ready; sleep 100 & wait')
        assert_match "$id" "$HEX64_RE"
        rt_wait_file "$WORK/sig/ready"
        run rt kill "$id" TERM
        assert_status 0
        assert_eq "$(rt_wait_exited "$id")" 5 exit_code
        rt rm "$id" >/dev/null

        id=$(rt run -d "$RT_IMAGE" sleep 100)
        local pid
        pid=$(rt_field "$id" pid)
        [ -d "/proc/$pid" ]
        local t0=$EPOCHREALTIME
        run rt rm -f "$id"
        local ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
        assert_status 0
        assert_eq "$output" "$id"
        # the monitor is done once it has exited, even before its new parent reaps it (here
        # 1.5-2 s later: rm -f took that long when it waited for the zombie to go)
        [ "$ms" -lt 1000 ] || {
                echo "rm -f took $ms ms"
                return 1
        }
        local i=0
        while [ -d "/proc/$pid" ] && [ "$i" -lt 100 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        [ ! -d "/proc/$pid" ] || {
                echo "container process $pid still alive after rm -f"
                return 1
        }
        [ ! -e "$RT_ROOT/containers/$id" ]
        assert_eq "$(rt containers --format json | jq length)" 0 "records left"
}

@test "rm: a container whose lana-img was SIGKILLed leaves nothing behind, its cgroups included" {
        rt_need_controller memory
        "$LANA_IMG" --root "$RT_ROOT" run --memory 32m "$RT_IMAGE" sleep 100 >"$WORK/out" 2>"$WORK/err" &
        local pid=$! id= i
        for ((i = 0; i < 200; i++)); do
                id=$(rt containers --format json | jq -r '.[0].id // empty')
                [ -n "$id" ] && break
                sleep 0.05
        done
        [ -n "$id" ] || {
                kill -9 "$pid"
                cat "$WORK/err"
                return 1
        }
        # the container's cgroups, found on the host (the unified hierarchy for the process, and
        # on a hybrid host the v1 memory hierarchy for the limit), and as its record names them
        local cgs
        cgs=$(rt_cgroups_of "$id")
        [ -n "$cgs" ]
        assert_eq "$(jq -r '.cgroups[]' "$LANA_IMG_STATE/$id/state.json" | sort)" "$cgs" "cgroups in the record"
        kill -9 "$pid"
        wait "$pid" || true
        # nobody is left to remove the cgroups (the container's init died with its parent,
        # PR_SET_PDEATHSIG)
        rt_rm_leaves_nothing "$id" "$cgs" -f
}

@test "rm: a lana-img run killed while starting the container (cgroups made, nothing started) leaves nothing after rm" {
        rt_need_controller memory
        # stopped right after it made the container's cgroups (test hook), then killed there
        LANA_IMG_TEST_STOP=container-cgroups "$LANA_IMG" --root "$RT_ROOT" run --memory 32m \
                "$RT_IMAGE" true >"$WORK/out" 2>"$WORK/err" &
        local pid=$! i state=
        for ((i = 0; i < 600; i++)); do
                state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || state=gone
                [ "$state" = T ] || [ "$state" = gone ] || [ "$state" = Z ] && break
                sleep 0.05
        done
        [ "$state" = T ] || {
                kill -9 "$pid" 2>/dev/null
                echo "run did not stop at the hook (state $state): $(cat "$WORK/err")"
                return 1
        }
        # the record is there before any cgroup, and says the container is starting
        run --separate-stderr rt containers --format json
        assert_status 0
        local id
        id=$(echo "$output" | jq -r '.[0].id // empty')
        [ -n "$id" ] || {
                kill -9 "$pid"
                echo "no record while the container starts"
                return 1
        }
        assert_eq "$(echo "$output" | jq -r '.[0].starting')" true starting
        assert_match "$(rt containers | tail -n 1)" " starting "
        local cgs
        cgs=$(rt_cgroups_of "$id")
        [ -n "$cgs" ]
        # rm without -f refuses a container that is starting
        run --separate-stderr rt rm "$id"
        assert_status 1
        assert_contains "$stderr" "is starting (use -f)"
        # the start dies half-way
        kill -9 "$pid"
        wait "$pid" || true
        run --separate-stderr rt containers --format json
        assert_eq "$(echo "$output" | jq -r '.[0].starting')" false "starting, once its lana-img is gone"
        rt_rm_leaves_nothing "$id" "$cgs"
}

@test "rm: a record naming a cgroup that is not the container's own is refused, the rest removed" {
        local id
        id=$(rt run -d "$RT_IMAGE" true)
        rt_wait_exited "$id" >/dev/null
        # another cgroup, in a hierarchy where one can be made (the unified one, else a v1
        # hierarchy: /sys/fs/cgroup itself is a read-only tmpfs on many v1 hosts)
        local base
        base=$(rt_cgroup_fs_dir) || skip "no cgroup hierarchy is mounted"
        local victim=$base/lana-img-not-this-one
        mkdir -p "$victim"
        local f="$LANA_IMG_STATE/$id/state.json"
        jq --arg v "$victim" '.cgroups = [$v, "/etc", "/sys/fs/cgroup/../../etc/lana-img-\(.id)"]' "$f" >"$f.new"
        mv "$f.new" "$f"
        run --separate-stderr rt rm "$id"
        local kept=0
        [ -d "$victim" ] && kept=1
        rmdir "$victim" 2>/dev/null || true
        assert_eq "$kept" 1 "the other cgroup is still there"
        assert_status 0
        assert_contains "$stderr" "not a cgroup of container"
        assert_eq "$output" "$id"
        assert_eq "$(rt containers --format json | jq length)" 0 "records left"
}

@test "run --name: a name already in use exits 125" {
        local id
        id=$(rt run -d --name rt-taken "$RT_IMAGE" sleep 100)
        rt_run --name rt-taken "$RT_IMAGE" true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" rt-taken
        rt rm -f "$id" >/dev/null
}

# ---- isolation, seen from inside ----

@test "isolation: mount, unshare, keyctl, open_by_handle_at and module syscalls are refused" {
        rt_run "$RT_IMAGE" probe mount unshare unshare-user keyctl open_by_handle_at \
                init_module finit_module delete_module
        assert_status 0
        assert_same_text "$output" "mount: EPERM
unshare: EPERM
unshare-user: EPERM
keyctl: EPERM
open_by_handle_at: EPERM
init_module: EPERM
finit_module: EPERM
delete_module: EPERM" "probe results"
}

@test "isolation: the probe can tell: --cap-add SYS_ADMIN allows mount, seccomp=unconfined allows keyctl" {
        rt_run --cap-add SYS_ADMIN "$RT_IMAGE" probe mount
        assert_eq "$output" "mount: OK"
        local host
        host=$("$RT_HOST_PROBE" keyctl)
        [ "$host" != "keyctl: ENOSYS" ] ||
                skip "this kernel has no keyrings (CONFIG_KEYS: keyctl is ENOSYS on the host), so keyctl cannot show the filter's absence"
        rt_run --security-opt seccomp=unconfined "$RT_IMAGE" probe keyctl mount
        assert_status 0
        # keyctl reaches the kernel (an id or ENOKEY), mount still lacks CAP_SYS_ADMIN
        assert_line "$output" '^keyctl: (OK|ENOKEY)$'
        assert_line "$output" '^mount: EPERM$'
}

@test "isolation: a host process cannot be traced (it is not even visible)" {
        [ -d "/proc/$$" ]
        rt_run "$RT_IMAGE" probe "ptrace=$$"
        assert_status 0
        assert_match "$output" '^ptrace: (ESRCH|EPERM)$'
}

@test "isolation: the default filter covers the i386 entry too (where the kernel offers it)" {
        [ "$(uname -m)" = x86_64 ] || skip "the i386 entry is an x86_64 matter, this is $(uname -m)"
        # unfiltered on the host first: some kernels have no usable i386 entry (ENOSYS), others
        # kill the caller with SIGSEGV (a VM whose kernel faults int \$0x80); then there is
        # nothing to filter, and the default profile (which adds the x86 compat architecture)
        # must still start containers, as every other test here shows
        local host
        host=$("$RT_HOST_PROBE" i386-getpid)
        [ "$host" = "i386-getpid: OK" ] ||
                skip "the i386 entry (int \$0x80) is not usable on this kernel (unfiltered probe on the host: ${host#*: })"
        rt_run "$RT_IMAGE" probe i386-getpid i386-keyctl
        assert_status 0
        assert_same_text "$output" "i386-getpid: OK
i386-keyctl: EPERM" "i386 calls in the container"
}

@test "isolation: ps shows only the container's processes" {
        [ "$(ls -d /proc/[0-9]* | wc -l)" -gt 5 ] # the host has more
        rt_run "$RT_IMAGE" sh -c 'sleep 5 & sleep 0.2; ps -o pid,comm; exit 0'
        assert_status 0
        # the shell is PID 1; the other pids are small: a new pid namespace
        assert_same_text "$(printf '%s\n' "$output" | tail -n +2 | awk '{ print $2 }')" "sh
sleep
ps" "commands seen by ps"
        assert_line "$output" '^ +1 +sh$'
        assert_eq "$(printf '%s\n' "$output" | tail -n +2 | awk '$1 > 10' | wc -l)" 0 "pids above 10"
}

@test "isolation: the cgroup namespace is rooted at the container's own cgroup" {
        rt_need_controller memory
        rt_need_controller pids
        rt_run --memory 64m --pids-limit 50 "$RT_IMAGE" cat /proc/self/cgroup
        assert_status 0
        # as under Docker with a private cgroup namespace: "/" everywhere, no host cgroup names
        assert_not_contains "$output" lana-img-
        assert_eq "$(printf '%s\n' "$output" | grep -cv ':/$')" 0 "entries other than /"
}

@test "isolation: --network none has only lo; --network host sees the host's interfaces" {
        rt_run "$RT_IMAGE" sh -c 'ip -o link | cut -d: -f2; tail -n +3 /proc/net/dev | cut -d: -f1'
        assert_status 0
        assert_eq "$(printf '%s\n' "$output" | tr -d ' ' | sort -u)" lo interfaces
        local host_ifs
        host_ifs=$(tail -n +3 /proc/net/dev | wc -l)
        [ "$host_ifs" -gt 1 ] || skip "the host itself has only lo"
        rt_run --network host "$RT_IMAGE" sh -c 'tail -n +3 /proc/net/dev | wc -l'
        assert_eq "$output" "$host_ifs" "interfaces with --network host"
}

@test "isolation: with --network host every mount under /sys is read-only" {
        grep -q ' /sys/' /proc/self/mountinfo || skip "nothing is mounted below /sys on this host"
        rt_run --network host "$RT_IMAGE" cat /proc/self/mountinfo
        assert_status 0
        # the last mount on each mount point is the visible one; its options must say ro
        local rw
        rw=$(printf '%s\n' "$output" | awk '$5 == "/sys" || index($5, "/sys/") == 1 { opt[$5] = $6 }
                END { for (m in opt) if (opt[m] !~ /^ro(,|$)/) print m, opt[m] }' | LC_ALL=C sort)
        assert_eq "$rw" "" "writable mounts under /sys"
}

@test "isolation: capabilities are Docker's 14; --cap-drop ALL clears them; non-root has none" {
        # Docker's 14 (00000000a80425fb), less any the host withholds from lana-img itself
        local docker
        docker=$(rt_caps_held a80425fb)
        [ "$docker" = 00000000a80425fb ] || echo "# the host withholds some of Docker's 14: $docker" >&3
        rt_run "$RT_IMAGE" grep ^Cap /proc/self/status
        assert_status 0
        assert_same_text "$(printf '%s\n' "$output" | tr -s '\t ' ' ')" "CapInh: 0000000000000000
CapPrm: $docker
CapEff: $docker
CapBnd: $docker
CapAmb: 0000000000000000" "capabilities"
        rt_run --cap-drop ALL "$RT_IMAGE" grep ^Cap /proc/self/status
        assert_status 0
        assert_eq "$(printf '%s\n' "$output" | cut -f2 | sort -u)" 0000000000000000 "with --cap-drop ALL"
        rt_run --cap-drop CHOWN --cap-add sys_admin "$RT_IMAGE" grep ^CapEff /proc/self/status
        assert_eq "$(printf '%s' "$output" | cut -f2)" "$(rt_caps_held a82425fa)" "-CHOWN +SYS_ADMIN"
        rt_run -u nobody "$RT_IMAGE" grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status
        assert_same_text "$(printf '%s\n' "$output" | tr -s '\t ' ' ')" "CapPrm: 0000000000000000
CapEff: 0000000000000000
CapBnd: $docker" "capabilities of nobody"
}

@test "run --cap-drop ALL --cap-add CAP gives exactly CAP: the drops apply first, as in Docker" {
        local net_raw
        net_raw=$(rt_caps_held 2000)
        [ "$net_raw" = 0000000000002000 ] || skip "the host withholds CAP_NET_RAW from lana-img itself"
        rt_run --cap-drop ALL --cap-add NET_RAW "$RT_IMAGE" grep -E '^Cap(Eff|Bnd)' /proc/self/status
        assert_status 0
        assert_same_text "$(printf '%s\n' "$output" | tr -s '\t ' ' ')" "CapEff: 0000000000002000
CapBnd: 0000000000002000" "--cap-drop ALL --cap-add NET_RAW"
        # a capability both dropped and added is kept, whatever the order of the options
        rt_run --cap-add CHOWN --cap-drop CHOWN "$RT_IMAGE" grep ^CapEff /proc/self/status
        assert_eq "$(printf '%s' "$output" | cut -f2)" "$(rt_caps_held a80425fb)" "+CHOWN -CHOWN"
        rt_run --cap-drop ALL --cap-add ALL "$RT_IMAGE" grep ^CapEff /proc/self/status
        assert_eq "$(printf '%s' "$output" | cut -f2)" "$(awk '/^CapPrm/ {print $2}' /proc/$$/status)" \
                "--cap-drop ALL --cap-add ALL"
}

@test "run --cap-add ALL gives every capability lana-img itself holds" {
        # the host may withhold some (CAP_SYS_RESOURCE here): a container never gets more
        local want
        want=$(awk '/^CapPrm/ {print $2}' /proc/$$/status)
        rt_run --cap-add ALL "$RT_IMAGE" grep ^CapEff /proc/self/status
        assert_status 0
        assert_eq "$(printf '%s' "$output" | cut -f2)" "$want" CapEff
}

@test "isolation: device nodes made in the container cannot be opened (nodev)" {
        rt_run --tmpfs /scratch "$RT_IMAGE" probe blockdev=/tmp/blk chardev=/tmp/chr \
                blockdev=/dev/shm/blk blockdev=/scratch/blk
        assert_status 0
        # mknod itself may succeed (CAP_MKNOD is in Docker's set); opening must not
        assert_not_contains "$output" "-open: OK"
        assert_not_contains "$output" "-open: ENXIO" # ENXIO: the driver was reached
        assert_line "$output" '^blockdev-open: EACCES$'
        assert_line "$output" '^chardev-open: EACCES$'
}

@test "isolation: device nodes made in a -v volume cannot be opened either" {
        mkdir -p "$WORK/vol"
        rt_run -v "$WORK/vol:/vol" "$RT_IMAGE" probe blockdev=/vol/blk chardev=/vol/chr
        assert_status 0
        assert_not_contains "$output" "-open: OK"
        assert_not_contains "$output" "-open: ENXIO"
        assert_eq "$(ls -A "$WORK/vol")" "" "nodes left in the volume"
}

@test "isolation: masked kernel files read empty, read-only ones cannot be opened for writing" {
        local probes=() p
        for p in /proc/keys /proc/timer_list /proc/timer_stats /proc/sched_debug /proc/latency_stats; do
                [ -e "$p" ] && probes+=("read=$p")
        done
        [ "${#probes[@]}" -gt 0 ] || skip "the host has none of the masked /proc files"
        for p in /proc/sys/kernel/domainname /proc/sys/vm/drop_caches; do
                [ -e "$p" ] && probes+=("openw=$p")
        done
        rt_run "$RT_IMAGE" probe "${probes[@]}"
        assert_status 0
        for p in "${probes[@]}"; do
                case $p in
                read=*) assert_line "$output" "^$p: (0 bytes|EACCES|EPERM)$" ;;
                openw=*) assert_line "$output" "^$p: (EROFS|EACCES|EPERM)$" ;;
                esac
        done
        local d
        for d in /proc/acpi /proc/scsi /sys/firmware /proc/asound; do
                [ -d "$d" ] || continue
                rt_run "$RT_IMAGE" ls -A "$d"
                assert_status 0
                assert_eq "$output" "" "contents of $d"
        done
}

@test "isolation: /proc/sysrq-trigger cannot be opened for writing" {
        [ -e /proc/sysrq-trigger ] || skip "this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ)"
        rt_run "$RT_IMAGE" probe openw=/proc/sysrq-trigger
        assert_status 0
        assert_match "$output" '^openw=/proc/sysrq-trigger: (EROFS|EACCES|EPERM)$'
}

@test "isolation: /proc/kcore cannot be read" {
        [ -e /proc/kcore ] || skip "this kernel has no /proc/kcore (CONFIG_PROC_KCORE)"
        rt_run "$RT_IMAGE" probe read=/proc/kcore
        assert_status 0
        assert_match "$output" '^read=/proc/kcore: (0 bytes|EACCES|EPERM|ENOENT)$'
}

@test "isolation: a setuid-root binary run as nobody does not get euid 0 (no_new_privs)" {
        rt_run -u nobody "$RT_IMAGE" probe-suid euid
        assert_status 0
        assert_eq "$output" "euid=65534 uid=65534"
        # control: the bit works when no_new_privs is off (seccomp off too: see the next test)
        rt_run -u nobody --security-opt no-new-privileges=false --security-opt seccomp=unconfined \
                "$RT_IMAGE" probe-suid euid
        assert_status 0
        assert_eq "$output" "euid=0 uid=65534"
}

@test "run --security-opt no-new-privileges=false works with the default seccomp profile" {
        rt_run --security-opt no-new-privileges=false "$RT_IMAGE" true
        assert_status 0
        rt_run -u nobody --security-opt no-new-privileges=false "$RT_IMAGE" probe-suid euid keyctl
        assert_status 0
        assert_eq "$output" "euid=0 uid=65534
keyctl: EPERM"
}

@test "isolation: the container inherits no file descriptors but 0, 1 and 2" {
        exec 7>"$WORK/fd7"
        rt_run "$RT_IMAGE" probe fds
        exec 7>&-
        assert_status 0
        assert_eq "$output" "fds: 0 1 2"
}

@test "run: RLIMIT_NOFILE's soft limit is raised to the hard limit, and never above it" {
        # lana-img may lack CAP_SYS_RESOURCE (it does here): the hard limit is then a ceiling
        local hard want
        hard=$(ulimit -Hn)
        want=$hard
        if [ "$hard" = unlimited ] || [ "$hard" -gt 1048576 ]; then
                want=1048576
        fi
        [ "$hard" = unlimited ] || [ "$hard" -gt 256 ] ||
                skip "the hard limit is $hard: no lower soft limit to start from"
        run --separate-stderr bash -c "ulimit -Sn 256 && exec '$LANA_IMG' --root '$RT_ROOT' run --rm '$RT_IMAGE' sh -c 'ulimit -Sn; ulimit -Hn'"
        assert_status 0
        assert_same_text "$output" "$want
$hard" "soft and hard RLIMIT_NOFILE in the container"
}

# ---- limits ----

@test "run --memory 32m: 64 MiB is OOM-killed (137, with the message); 16 MiB fits" {
        rt_need_oom
        rt_run --memory 32m "$RT_IMAGE" hog 64
        assert_status 137
        assert_contains "$stderr" "ran out of memory"
        assert_contains "$stderr" 33554432
        rt_run --memory 32m "$RT_IMAGE" hog 16
        assert_status 0
        assert_match "$output" '^hog: touched 16 MiB'
        assert_eq "$stderr" ""
}

@test "run --pids-limit 20: forks beyond the limit fail with EAGAIN; the container still exits" {
        rt_need_controller pids
        local prog='(i=0; trap "echo started \$i" EXIT; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done); echo survived'
        local t0=$SECONDS
        rt_run --pids-limit 20 "$RT_IMAGE" sh -c "$prog"
        assert_status 0
        assert_contains "$stderr" "can't fork"
        assert_line "$output" '^survived$'
        local n
        n=$(printf '%s\n' "$output" | sed -n 's/^started //p')
        [ -n "$n" ] && [ "$n" -ge 10 ] && [ "$n" -lt 20 ] || {
                echo "started $n sleeps under a limit of 20"
                return 1
        }
        # the sleeps die with the container's PID 1: no waiting for them
        [ $((SECONDS - t0)) -lt 3 ]
        # control: without the limit all 40 start
        rt_run "$RT_IMAGE" sh -c "$prog"
        assert_line "$output" '^started 40$'
}

@test "run --cpus 0.5 --memory 32m --pids-limit 20: the limits are in the container's cgroups" {
        rt_need_controller cpu
        rt_need_controller memory
        rt_need_controller pids
        local id
        id=$(rt run -d --cpus 0.5 --memory 32m --pids-limit 20 "$RT_IMAGE" sleep 100)
        assert_match "$id" "$HEX64_RE"
        local dirs cpu='' mem='' pids='' d
        dirs=$(rt_find_cgroups "lana-img-$id*")
        echo "cgroups: $dirs"
        [ -n "$dirs" ]
        for d in $dirs; do
                [ -f "$d/cpu.max" ] && cpu=$(cat "$d/cpu.max")
                [ -f "$d/cpu.cfs_quota_us" ] && cpu="$(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us")"
                [ -f "$d/memory.max" ] && mem=$(cat "$d/memory.max")
                [ -f "$d/memory.limit_in_bytes" ] && mem=$(cat "$d/memory.limit_in_bytes")
                [ -f "$d/pids.max" ] && pids=$(cat "$d/pids.max")
                # the container's process is in every one of them
                grep -qx "$(rt_field "$id" pid)" "$d/cgroup.procs"
        done
        rt rm -f "$id" >/dev/null
        assert_eq "$cpu" "50000 100000" "cpu quota and period"
        assert_eq "$mem" 33554432 "memory limit"
        assert_eq "$pids" 20 "pids limit"
        assert_eq "$(rt_find_cgroups "lana-img-$id*")" "" \
                "cgroups left after rm -f"
}

# ---- hostile layers ----
# Each attack aims at $CANARY (a host directory next to the test's store) and must either fail
# with 125 and a message naming the layer entry, or be neutralised; the canary must be unchanged
# and no half-unpacked snapshot may remain.

hostile_setup() {
        export CANARY="$WORK/canary"
        mkdir -p "$CANARY"
        echo secret >"$CANARY/shadow"
        CANARY_BEFORE=$(rt_tree "$CANARY")
        SHADOW_BEFORE=$(stat -c '%h %s %Y' /etc/shadow 2>/dev/null; sha256sum /etc/shadow 2>/dev/null)
}

hostile_check_host() {
        assert_same_text "$(rt_tree "$CANARY")" "$CANARY_BEFORE" "the canary directory"
        assert_same_text "$(stat -c '%h %s %Y' /etc/shadow 2>/dev/null; sha256sum /etc/shadow 2>/dev/null)" \
                "$SHADOW_BEFORE" "/etc/shadow"
        # no snapshots/ at all (a run refused before it unpacked anything) leaves nothing either
        local leftovers=
        [ ! -d "$ROOT/snapshots" ] || leftovers=$(find "$ROOT/snapshots" -maxdepth 1 -name '.tmp-*')
        assert_eq "$leftovers" "" "half-unpacked snapshots"
        assert_eq "$(ls -A "$ROOT/containers" 2>/dev/null)" "" "container directories"
        [ ! -e "/evil-abs" ] && [ ! -e /evil-dotdot ]
}

# hostile_refused CASE WHAT: the run fails with 125 and one line naming WHAT.
hostile_refused() {
        run --separate-stderr timeout 60 "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:$1" true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "layer entry '$2"
}

@test "hostile layer: ../ paths are refused, naming the entry" {
        hostile_setup
        rt_hostile dotdot "$CANARY"
        hostile_refused dotdot "../../"
        assert_contains "$stderr" "escapes"
        hostile_check_host
}

@test "hostile layer: an absolute path lands inside the container's root" {
        hostile_setup
        rt_hostile absolute "$CANARY"
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:absolute" cat "$CANARY/evil-abs"
        assert_status 0
        assert_eq "$output" absolute
        hostile_check_host
}

@test "hostile layer: a file written through a symlink to the host is refused" {
        hostile_setup
        rt_hostile symlink "$CANARY"
        hostile_refused symlink esc/evil-symlink
        rt_hostile symlink-rel "$CANARY"
        hostile_refused symlink-rel up/
        hostile_check_host
}

@test "hostile layer: hard links to a host file are refused" {
        hostile_setup
        rt_hostile hardlink "$CANARY/shadow"
        hostile_refused hardlink shadow
        rt_hostile hardlink-via-symlink "$CANARY/shadow"
        hostile_refused hardlink-via-symlink shadow
        assert_contains "$stderr" "leaves the layer"
        assert_eq "$(stat -c %h "$CANARY/shadow")" 1 "link count of the target"
        hostile_check_host
}

@test "hostile layer: duplicate entries, the later one wins" {
        hostile_setup
        rt_hostile duplicate
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:duplicate" \
                sh -c 'cat /dup; stat -c %F /dup2'
        assert_status 0
        assert_eq "$output" "second
symbolic link"
        hostile_check_host
}

@test "hostile layer: a 100,000-character name is refused with a bounded message" {
        hostile_setup
        rt_hostile longname
        hostile_refused longname xxxxxxxx
        echo "stderr is ${#stderr} bytes"
        [ "${#stderr}" -lt 8192 ]
        hostile_check_host
}

@test "hostile layer: a 16 MiB PAX record is refused quickly" {
        hostile_setup
        rt_hostile hugepax
        local t0=$SECONDS
        run --separate-stderr timeout 60 "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:hugepax" true
        assert_status 125
        assert_one_line_error
        assert_contains "$stderr" "unpack layer"
        [ $((SECONDS - t0)) -lt 10 ]
        hostile_check_host
}

@test "hostile layer: device nodes are created (root) but cannot be opened: the rootfs is nodev" {
        hostile_setup
        rt_hostile devices
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:devices" \
                sh -c 'stat -c "%F %t:%T" /blk /mem; head -c 1 /blk; echo "blk $?"; head -c 1 /mem; echo "mem $?"'
        assert_status 0
        assert_eq "$output" "block special file 7:0
character special file 1:1
blk 1
mem 1"
        assert_contains "$stderr" "Permission denied"
        hostile_check_host
}

@test "hostile layer: a setuid-root file keeps its bit but gives nobody no root" {
        hostile_setup
        rt_hostile setuid "$RT_DIR/ctx/suid/probe-suid"
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm -u nobody "oci:$WORK/layout:setuid" \
                sh -c 'stat -c "%a %u" /suid-file; /suid-file euid'
        assert_status 0
        assert_eq "$output" "4755 0
euid=65534 uid=65534"
        hostile_check_host
}

@test "hostile layer: whiteouts remove a file and empty an opaque directory" {
        hostile_setup
        rt_hostile whiteout
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:whiteout" \
                sh -c 'ls -A /opq; echo "opq done"; ls / | grep -x -e gone -e keep'
        assert_status 0
        assert_eq "$output" "opq done
keep"
        hostile_check_host
}

@test "without overlayfs: the layers are copied, whiteouts and opaque directories applied" {
        hostile_setup
        rt_hostile whiteout
        # LANA_IMG_NO_OVERLAY=1 takes the path used where overlayfs cannot be mounted
        LANA_IMG_NO_OVERLAY=1 run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm \
                "oci:$WORK/layout:whiteout" \
                sh -c 'ls -A /opq; echo "opq done"; ls / | grep -x -e gone -e keep; grep -c " / overlay " /proc/mounts; true'
        assert_status 0
        assert_eq "$output" "opq done
keep
0"
        hostile_check_host
}

@test "hostile image: more layers than diff_ids fails cleanly" {
        hostile_setup
        rt_hostile short-diffids
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm "oci:$WORK/layout:short-diffids" true
        assert_status 125
        assert_one_line_error
        hostile_check_host
}

@test "run oci:DIR:REF works with a store that does not exist yet" {
        run --separate-stderr "$LANA_IMG" --root "$WORK/fresh-store" run --rm "oci:$RT_LAYOUT:base" echo hi
        assert_status 0
        assert_eq "$output" hi
}

@test "run: /dev, /proc and /sys come from the skeleton layer; nothing lands in the upper dir" {
        # without overlayfs the layers are copied into upper/
        rt_need_overlay
        # the test image has no /dev, /proc or /sys of its own
        local id
        id=$(rt run -d "$RT_IMAGE" sh -c 'test -d /proc/self && test -c /dev/null && test -d /sys/kernel')
        assert_match "$id" "$HEX64_RE"
        assert_eq "$(rt_wait_exited "$id")" 0 exit_code
        assert_eq "$(ls -A "$RT_ROOT/containers/$id/upper")" "" "upper directory"
        assert_eq "$(ls "$RT_ROOT/snapshots/skeleton" | tr '\n' ' ')" "dev proc sys " skeleton
        rt rm "$id" >/dev/null
        # prune keeps the skeleton, and a run after removing it makes it again
        rt prune >/dev/null
        [ -d "$RT_ROOT/snapshots/skeleton/proc" ]
        rm -rf "$RT_ROOT/snapshots/skeleton"
        rt_run "$RT_IMAGE" sh -c 'test -d /proc/self'
        assert_status 0
        [ -d "$RT_ROOT/snapshots/skeleton/sys" ]
}

@test "run --rm mounts its overlay volatile (no sync of the host file system at exit); run without --rm does not" {
        rt_need_overlay
        rt_run "$RT_IMAGE" sh -c 'grep " / / " /proc/self/mountinfo'
        assert_status 0
        assert_contains "$output" " - overlay "
        if [ -n "$RT_VOLATILE_SKIP" ]; then
                # the documented fallback: the option is dropped, the run still works
                echo "# $RT_VOLATILE_SKIP: checked that --rm runs without it" >&3
                [[ "$output" != *volatile* ]]
        else
                assert_contains "$output" "volatile"
        fi
        local id
        id=$(rt run -d "$RT_IMAGE" sh -c 'grep " / / " /proc/self/mountinfo')
        assert_eq "$(rt_wait_exited "$id")" 0 exit_code
        run cat "$RT_ROOT/containers/$id/log"
        assert_contains "$output" " - overlay "
        [[ "$output" != *volatile* ]] || { echo "kept container mounted volatile: $output"; return 1; }
        rt rm "$id" >/dev/null
}

@test "prune empties the seccomp filter cache and drops mount records of blobs that are gone" {
        rt_run "$RT_IMAGE" sh -c :
        assert_status 0
        [ -n "$(ls -A "$RT_ROOT/cache/seccomp")" ]
        # a mount record for a blob the store has, and one for a blob it does not
        local kept gone
        kept=$(ls "$RT_ROOT/oci/blobs/sha256" | grep -v '^\.' | head -1)
        gone=$(printf 'nothing here' | sha256sum | cut -d' ' -f1)
        mkdir -p "$RT_ROOT/cache/blobs"
        echo '{"127.0.0.1:5000/x": true}' >"$RT_ROOT/cache/blobs/$kept"
        echo '{"127.0.0.1:5000/x": true}' >"$RT_ROOT/cache/blobs/$gone"
        rt prune >/dev/null
        assert_eq "$(ls -A "$RT_ROOT/cache/seccomp" 2>/dev/null)" "" "seccomp cache after prune"
        [ -f "$RT_ROOT/cache/blobs/$kept" ]
        [ ! -e "$RT_ROOT/cache/blobs/$gone" ]
        # the next run compiles the filter again
        rt_run "$RT_IMAGE" sh -c :
        assert_status 0
        [ -n "$(ls -A "$RT_ROOT/cache/seccomp")" ]
}

@test "prune does not wait for running containers and keeps their snapshots" {
        lana tag "oci:$RT_LAYOUT:base" lana-img-tests/runtime:prune >/dev/null
        local id
        id=$(lana run -d "oci:$RT_LAYOUT:base" sleep 100)
        assert_match "$id" "$HEX64_RE"
        lana rmi lana-img-tests/runtime:prune >/dev/null
        local snaps_before
        snaps_before=$(ls "$ROOT/snapshots")
        run --separate-stderr timeout 20 "$LANA_IMG" --root "$ROOT" prune
        assert_status 0
        # no image names the layers any more; the running container still uses them
        assert_same_text "$(ls "$ROOT/snapshots")" "$snaps_before" "snapshots"
        run "$LANA_IMG" --root "$ROOT" containers --format json
        assert_eq "$(printf '%s' "$output" | jq -r '.[0].running')" true "still running"
        lana rm -f "$id" >/dev/null
}

@test "prune removes unused snapshots while it holds the gc lock exclusively, and lowers it only after" {
        skip_unless strace
        lana tag "oci:$RT_LAYOUT:base" lana-img-tests/runtime:prune-lock >/dev/null
        run --separate-stderr "$LANA_IMG" --root "$ROOT" run --rm lana-img-tests/runtime:prune-lock true
        assert_status 0
        lana rmi lana-img-tests/runtime:prune-lock >/dev/null
        local snap
        snap=$(ls "$ROOT/snapshots" | grep -v '^skeleton$' | head -n 1)
        [ -n "$snap" ]
        strace -f -qq -e trace=flock,unlinkat -o "$WORK/trace" "$LANA_IMG" --root "$ROOT" prune >/dev/null
        [ ! -e "$ROOT/snapshots/$snap" ]
        # in the trace: the store opened (LOCK_SH), prune's LOCK_EX, the snapshot's removal, and
        # only then LOCK_SH again; no run can open the store between the first two
        local order
        order=$(awk -v s="\"$snap\"" '
                /flock\(.*LOCK_EX/ { print "EX" }
                /flock\(.*LOCK_SH/ { print "SH" }
                index($0, s) && /AT_REMOVEDIR/ { print "SNAPSHOT" }' "$WORK/trace" | uniq | tr '\n' ' ')
        assert_eq "$order" "SH EX SNAPSHOT SH " "lock calls and the snapshot removal, in order"
}

# ---- hygiene ----

@test "hygiene: 200 run --rm cycles leave no mounts, fds, cgroups, directories or processes" {
        local me=$BASHPID mounts_before fds_before
        mounts_before=$(cut -d' ' -f4- /proc/self/mountinfo | LC_ALL=C sort)
        fds_before=$(ls "/proc/$me/fd")
        local n=0 ids=() t0=$SECONDS max=200 out
        while [ "$n" -lt "$max" ]; do
                # every fourth run with --init and limits, so those paths are counted too
                if ((n % 4 == 3)) && [ -z "$RT_INIT_SKIP" ]; then
                        out=$(rt run --rm --init --memory 64m --pids-limit 50 "$RT_IMAGE" hostname)
                else
                        out=$(rt run --rm "$RT_IMAGE" hostname)
                fi || {
                        echo "cycle $n failed"
                        return 1
                }
                ids+=("$out")
                n=$((n + 1))
                # keep the file's budget: stop at 60 s, but only after 50 cycles
                if [ $((SECONDS - t0)) -ge 60 ] && [ "$n" -ge 50 ]; then
                        break
                fi
        done
        echo "# hygiene: $n cycles in $((SECONDS - t0)) s" >&3
        [ "$n" -ge 50 ]
        # the host name is the id's first 12 digits: it finds each run's cgroups and processes
        assert_eq "$(printf '%s\n' "${ids[@]}" | grep -cvE '^[0-9a-f]{12}$')" 0 "host names not ids"
        assert_same_text "$(cut -d' ' -f4- /proc/self/mountinfo | LC_ALL=C sort)" "$mounts_before" "host mounts"
        assert_eq "$(grep -c -- "$RT_ROOT" /proc/self/mountinfo)" 0 "mounts under the store"
        assert_same_text "$(ls "/proc/$me/fd")" "$fds_before" "fds of the test shell"
        local id leaked=
        for id in "${ids[@]}"; do
                leaked+=$(rt_find_cgroups "lana-img-$id*")
        done
        assert_eq "$leaked" "" "cgroups of the runs"
        assert_eq "$(ls -A "$RT_ROOT/containers")" "" "container directories"
        assert_eq "$(ls -A "$LANA_IMG_STATE" 2>/dev/null)" "" "container records"
        assert_eq "$(pgrep -f -- "--root $RT_ROOT" || true)" "" "lana-img processes of this store"
        assert_eq "$(rt_procs_with_hostname "${ids[@]}")" "" "processes of the runs (lana-init included)"
}
