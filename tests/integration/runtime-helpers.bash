# runtime-helpers.bash — what runtime.bats shares on top of helpers.bash: the test image (busybox,
# /etc/passwd and /etc/group from rootfs/, an empty /tmp, the static probe and memory hog from
# fixtures/, a setuid-root copy of the probe), built once per file into a file-level store; hostile
# OCI layouts made by fixtures/rt-hostile-layer.py; an isolated container state directory per
# test; and snapshots of what the host shows (mounts, cgroups, processes) to prove a run left
# nothing behind.
#
# runtime.bats does:
#   load helpers
#   load runtime-helpers
#   setup_file() { rt_setup_file; }
#   setup() { rt_setup; }
#   teardown() { rt_teardown; }
#
# Every container test needs root (namespaces, overlay, cgroups): rt_setup skips when not root.
# What the kernel offers is probed once, on the host, before any container runs
# (rt_kernel_missing, rt_probe_overlay): a kernel without what every container needs makes every
# test skip with the reason, one without an optional feature only the tests that need it.

RT_IMAGE=lana-img-tests/runtime:busybox
RT_FIXTURES="$BATS_TEST_DIRNAME/fixtures"
HEX64_RE='^[0-9a-f]{64}$'

# ---- setup ----

# Compiles the helpers, builds the image into $RT_ROOT (one store for the whole file: its snapshots
# are unpacked once) and exports the image's layout for the hostile-layer tests. What cannot be
# built is recorded in $RT_SKIP with the reason; rt_need_image skips on it.
rt_setup_file() {
        lana_setup_file || return 1
        export RT_DIR="$BATS_FILE_TMPDIR/rt"
        export RT_ROOT="$RT_DIR/store"
        export RT_LAYOUT="$RT_DIR/layout"
        export RT_SKIP=
        mkdir -p "$RT_DIR"
        local why
        if ! why=$(rt_build_image 2>&1); then
                RT_SKIP=$(printf '%s' "$why" | tail -n 3 | tr '\n' ' ')
                echo "# runtime image not built: $RT_SKIP" >&3
        fi
        export RT_HOST_PROBE="$RT_DIR/ctx/root/bin/probe"
        export RT_OVERLAY_SKIP= RT_VOLATILE_SKIP=
        if [ -z "$RT_SKIP" ] && [ "$(id -u)" = 0 ]; then
                why=$(rt_kernel_missing)
                if [ -n "$why" ]; then
                        RT_SKIP=$(printf '%s' "$why" | tr '\n' ' ')
                        echo "# not run here: $RT_SKIP" >&3
                fi
                rt_probe_overlay
                [ -z "$RT_OVERLAY_SKIP$RT_VOLATILE_SKIP" ] ||
                        echo "# ${RT_OVERLAY_SKIP:-$RT_VOLATILE_SKIP}" >&3
        fi
        export RT_SKIP
        # --init execs lana-init from $LANA_IMG_INIT or next to the lana-img binary
        export RT_INIT_SKIP=
        if [ -z "${LANA_IMG_INIT:-}" ] && [ ! -x "$(dirname "$LANA_IMG")/lana-init" ]; then
                RT_INIT_SKIP="lana-init was not built next to $LANA_IMG (ninja -C $(dirname "$LANA_IMG") lana-init)"
                echo "# $RT_INIT_SKIP" >&3
        fi
}

# ---- what the kernel offers ----

# rt_kernel_missing: what every container needs from the kernel and this one lacks, one reason a
# line (nothing when all is there). Asked on the host with the static probe, whose probes only
# ask whether a call exists; the namespaces with unshare(1).
rt_kernel_missing() {
        local out line
        if ! out=$("$RT_HOST_PROBE" seccomp-filter openat2 mount_setattr 2>&1); then
                echo "the static probe does not run on this host: $out"
                return 0
        fi
        while IFS= read -r line; do
                case $line in
                "seccomp-filter: EFAULT" | "openat2: OK" | "mount_setattr: EBADF") ;;
                seccomp-filter:*)
                        echo "this kernel loads no seccomp filters (CONFIG_SECCOMP_FILTER; probe: ${line#*: }), and every container gets one" ;;
                openat2:*)
                        echo "this kernel has no openat2 (Linux 5.6+; probe: ${line#*: }), with which run resolves every mount target" ;;
                mount_setattr:*)
                        echo "this kernel has no mount_setattr (Linux 5.12+; probe: ${line#*: }), with which run restricts its binds" ;;
                *) echo "unexpected probe answer: $line" ;;
                esac
        done <<<"$out"
        if command -v unshare >/dev/null &&
                ! out=$(unshare --pid --fork --mount --uts --ipc --net --cgroup true 2>&1); then
                echo "the kernel refuses the namespaces every container gets (pid, mount, UTS, IPC, network, cgroup): $out"
        fi
        return 0
}

# rt_probe_overlay: can an overlay be mounted with its upper directory on the store's file system
# (run falls back to copying the layers when not), and does the kernel take its "volatile"
# option (Linux 5.10+; run drops it when not)? Sets RT_OVERLAY_SKIP and RT_VOLATILE_SKIP to the
# reason when not. Mounted in a private mount namespace of its own, gone when unshare returns.
rt_probe_overlay() {
        local d="$RT_DIR/overlay-probe" err opt
        RT_OVERLAY_SKIP= RT_VOLATILE_SKIP=
        for opt in "" ",volatile"; do
                rm -rf "$d"
                mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
                if ! err=$(unshare -m mount -t overlay overlay \
                        -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work$opt" "$d/merged" 2>&1); then
                        err=$(printf '%s' "$err" | head -n 1)
                        if [ -z "$opt" ]; then
                                RT_OVERLAY_SKIP="overlayfs cannot be mounted with its upper directory on this store's file system ($(stat -f -c %T "$RT_DIR")): $err; run copies the layers instead"
                                break
                        fi
                        RT_VOLATILE_SKIP="this kernel refuses the overlay option volatile (Linux 5.10+): $err"
                fi
        done
        rm -rf "$d"
        export RT_OVERLAY_SKIP RT_VOLATILE_SKIP
}

# rt_need_overlay: skips when run cannot mount an overlay here (it copies the layers instead).
rt_need_overlay() {
        [ -z "$RT_OVERLAY_SKIP" ] || skip "$RT_OVERLAY_SKIP"
}

# rt_caps_held HEX: HEX (a capability mask) limited to what lana-img itself holds here (this
# shell's permitted set: a container never gets more), as /proc/PID/status prints it.
rt_caps_held() {
        local prm
        prm=$(awk '/^CapPrm/ { print $2 }' "/proc/$$/status")
        printf '%016x' $((0x$1 & 0x$prm))
}

# rt_need_init: skips when --init has no lana-init to run.
rt_need_init() {
        [ -z "$RT_INIT_SKIP" ] || skip "$RT_INIT_SKIP"
}

rt_build_image() {
        [ -x /bin/busybox ] || {
                echo "/bin/busybox is missing (install busybox-static)"
                return 1
        }
        command -v gcc >/dev/null || {
                echo "gcc is missing"
                return 1
        }
        command -v python3 >/dev/null || {
                echo "python3 is missing"
                return 1
        }
        local ctx="$RT_DIR/ctx"
        mkdir -p "$ctx/root/bin" "$ctx/root/etc" "$ctx/root/tmp" "$ctx/suid"
        cp /bin/busybox "$ctx/root/bin/busybox"
        local a
        for a in sh true false echo cat ls ps touch id sleep kill tty ip hostname env pwd mkdir \
                seq grep wc head stat mknod setsid; do
                ln -sf busybox "$ctx/root/bin/$a"
        done
        cp "$LANA_SRC/rootfs/etc/passwd" "$LANA_SRC/rootfs/etc/group" "$ctx/root/etc/"
        gcc -static -O2 -Wall -Wextra -o "$ctx/root/bin/probe" "$RT_FIXTURES/rt-probe.c" || return 1
        gcc -static -O2 -Wall -Wextra -o "$ctx/root/bin/hog" "$RT_FIXTURES/rt-hog.c" || return 1
        cp "$ctx/root/bin/probe" "$ctx/suid/probe-suid"
        cat >"$ctx/lana-img.yaml" <<'EOF'
image: lana-img-tests/runtime
tags: [busybox]
layers:
  - name: root
    files:
      - src: root/
        dst: /
      - src: suid/probe-suid
        dst: /bin/probe-suid
        mode: "4755"
        uid: 0
        gid: 0
config:
  cmd: [/bin/sh]
  env: {IMG_VAR: from-image, PATH: /bin}
EOF
        "$LANA_IMG" --root "$RT_ROOT" build "$ctx" >/dev/null || return 1
        "$LANA_IMG" --root "$RT_ROOT" tag "$RT_IMAGE" "oci:$RT_LAYOUT:base" || return 1
}

# Per test: helpers.bash's setup, root required, container records in this test's directory.
rt_setup() {
        lana_setup
        skip_unless_root
        [ -z "$RT_SKIP" ] || skip "runtime test image not built: $RT_SKIP"
        export LANA_IMG_STATE="$BATS_TEST_TMPDIR/state"
}

# Per test: a host mount the test made ($RT_UMOUNT) is unmounted, and containers a failed test
# left running are removed (a detached monitor would otherwise hold bats' output open until its
# program ends).
rt_teardown() {
        if [ -n "${RT_UMOUNT:-}" ]; then
                umount "$RT_UMOUNT" 2>/dev/null || umount -l "$RT_UMOUNT" 2>/dev/null || true
        fi
        [ -d "${LANA_IMG_STATE:-}" ] || return 0
        local id
        for id in $(rt containers --format json 2>/dev/null | jq -r '.[].id' 2>/dev/null); do
                rt rm -f "$id" >/dev/null 2>&1 || true
        done
}

# rt ARGS...: the binary against the file's store.
rt() {
        "$LANA_IMG" --root "$RT_ROOT" "$@"
}

# rt_run [-N] ARGS...: bats `run` of `lana-img run --rm ARGS` with stderr kept apart; -N tells
# bats the status N is expected (127 otherwise draws a "command not found" warning).
rt_run() {
        local expect=()
        if [[ "${1:-}" =~ ^-[0-9]+$ ]]; then
                expect=("$1")
                shift
        fi
        run "${expect[@]}" --separate-stderr "$LANA_IMG" --root "$RT_ROOT" run --rm "$@"
}

# rt_cgroup_v1_mount NAME: the mount point of the v1 hierarchy holding controller NAME, if any.
rt_cgroup_v1_mount() {
        awk -v c="$1" '{
                for (i = 7; i <= NF && $i != "-"; i++);
                if ($(i + 1) != "cgroup") next;
                n = split($(i + 3), o, ",");
                for (k = 1; k <= n; k++) if (o[k] == c) { print $5; exit }
        }' /proc/self/mountinfo
}

# rt_cgroup_v2_dir: our own cgroup in the unified hierarchy (at /sys/fs/cgroup or
# /sys/fs/cgroup/unified), if one is mounted.
rt_cgroup_v2_dir() {
        local base path
        path=$(sed -n 's/^0:://p' /proc/self/cgroup)
        for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
                if [ -n "$path" ] && [ "$(stat -f -c %T "$base" 2>/dev/null)" = cgroup2fs ]; then
                        echo "$base${path%/}"
                        return 0
                fi
        done
        return 1
}

# rt_need_controller NAME: skips unless a limit of controller NAME can be applied to a container
# started from here, as cgroup.c decides: the unified hierarchy offers it to our cgroup's children
# (listed in cgroup.controllers, and enabled in cgroup.subtree_control or enableable: our cgroup
# is the root or holds no process), or a v1 hierarchy of it is mounted (for cpu, with CFS
# bandwidth control). The reason names what is missing.
rt_need_controller() {
        local c=$1 dir mnt v2why="no unified hierarchy"
        if dir=$(rt_cgroup_v2_dir); then
                if grep -qw "$c" "$dir/cgroup.controllers" 2>/dev/null; then
                        if [ "$(sed -n 's/^0:://p' /proc/self/cgroup)" = / ] ||
                                grep -qw "$c" "$dir/cgroup.subtree_control" 2>/dev/null ||
                                [ -z "$(cat "$dir/cgroup.procs" 2>/dev/null)" ]; then
                                return 0
                        fi
                        v2why="$c cannot be enabled in $dir/cgroup.subtree_control (the cgroup holds processes and is not the root)"
                else
                        v2why="$c not in $dir/cgroup.controllers"
                fi
        fi
        mnt=$(rt_cgroup_v1_mount "$c")
        [ -n "$mnt" ] || skip "no $c cgroup controller for a container started here: v2: $v2why; v1: no $c hierarchy mounted"
        if [ "$c" = cpu ] && [ ! -e "$mnt/cpu.cfs_quota_us" ]; then
                skip "no CFS bandwidth control in this kernel (CONFIG_CFS_BANDWIDTH): $mnt has no cpu.cfs_quota_us"
        fi
        return 0
}

# rt_need_oom: rt_need_controller memory, and skips when a container over its memory limit would
# be swapped out rather than OOM-killed: swap in use, and no swap limit the memory cgroup can set
# (v1 memory.memsw.limit_in_bytes, v2 memory.swap.max: both need swap accounting).
rt_need_oom() {
        rt_need_controller memory
        [ "$(wc -l </proc/swaps)" -gt 1 ] || return 0
        local mnt dir
        mnt=$(rt_cgroup_v1_mount memory)
        if [ -n "$mnt" ]; then
                [ -e "$mnt/memory.memsw.limit_in_bytes" ] && return 0
        elif dir=$(rt_cgroup_v2_dir); then
                # the file only exists below the root: any child cgroup tells
                compgen -G "${dir%/*}/*/memory.swap.max" >/dev/null && return 0
                compgen -G "$dir/*/memory.swap.max" >/dev/null && return 0
        fi
        skip "swap is in use and the memory cgroup cannot limit it (swap accounting off): a container over its memory limit is swapped out, not OOM-killed"
}

# rt_cgroup_fs_dir: a directory in which a cgroup can be made here (the unified hierarchy's root,
# else the first v1 hierarchy of memory, pids or cpu): /sys/fs/cgroup itself is a read-only tmpfs
# on many v1 and hybrid hosts.
rt_cgroup_fs_dir() {
        local base c mnt
        for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
                if [ "$(stat -f -c %T "$base" 2>/dev/null)" = cgroup2fs ]; then
                        echo "$base"
                        return 0
                fi
        done
        for c in memory pids cpu; do
                mnt=$(rt_cgroup_v1_mount "$c")
                if [ -n "$mnt" ]; then
                        echo "$mnt"
                        return 0
                fi
        done
        return 1
}

# ---- hostile layouts ----

# rt_hostile CASE [ARG]: adds the image CASE to $WORK/layout (a copy of the base layout) and
# primes this test's own store ($ROOT) with the base image, so that snapshots of the hostile
# layer land in $ROOT/snapshots where the test can look at them.
rt_hostile() {
        local case=$1
        shift
        [ -d "$WORK/layout" ] || cp -a "$RT_LAYOUT" "$WORK/layout"
        python3 "$RT_FIXTURES/rt-hostile-layer.py" "$WORK/layout" base "$case" "$case" "$@"
        [ -d "$ROOT" ] || lana tag "oci:$WORK/layout:base" lana-img-tests/runtime:base >/dev/null
}

# ---- what the host shows ----

# rt_tree DIR: every path below DIR with type, mode, link count and size (hashes for files), so
# that equal output before and after means DIR was not touched.
rt_tree() {
        (
                cd "$1" || exit 1
                find . -printf '%y %m %n %s %P\n' | LC_ALL=C sort
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
        )
}

# rt_find_cgroups GLOB: the cgroup directories on the host named GLOB, one per line, sorted.
# Other containers' cgroups (other tests, other users of the machine) come and go while find
# walks the tree: a directory that vanished under it is not an error.
rt_find_cgroups() {
        find /sys/fs/cgroup -maxdepth 8 -type d -name "$1" 2>/dev/null | LC_ALL=C sort
}


# rt_procs_with_hostname NAME...: pids of host processes whose environment says HOSTNAME=NAME
# for one of the NAMEs (a container's processes carry its host name; used to find leftovers).
rt_procs_with_hostname() {
        local want=" $* " p h
        for p in /proc/[0-9]*; do
                h=$(tr '\0' '\n' <"$p/environ" 2>/dev/null | sed -n 's/^HOSTNAME=//p' | head -n 1)
                [ -n "$h" ] && [[ "$want" == *" $h "* ]] && echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
        done
        return 0
}

# rt_wait_exited ID [SECONDS]: waits until the record of ID has an exit_code; prints it.
rt_wait_exited() {
        local id=$1 limit=${2:-10} i code
        for ((i = 0; i < limit * 20; i++)); do
                code=$(rt containers --format json |
                        jq -r --arg id "$id" '.[] | select(.id == $id) | .exit_code // empty')
                if [ -n "$code" ]; then
                        echo "$code"
                        return 0
                fi
                sleep 0.05
        done
        echo "container $id has no exit_code after ${limit}s" >&2
        rt containers --format json >&2
        return 1
}

# rt_wait_file PATH [SECONDS]: waits until PATH exists (a container signals through a volume
# that it is ready, e.g. that its trap is set).
rt_wait_file() {
        local path=$1 limit=${2:-30} i
        for ((i = 0; i < limit * 20; i++)); do
                [ -e "$path" ] && return 0
                sleep 0.05
        done
        echo "$path did not appear within ${limit}s" >&2
        return 1
}

# rt_cgroups_of ID: the container's cgroup directories found on the host, one per line, sorted.
rt_cgroups_of() {
        rt_find_cgroups "lana-img-$1"
}

# rt_rm_leaves_nothing ID CGROUPS [-f]: the cgroups outlived their lana-img (else the test
# proves nothing); `rm` then exits 0 in silence and leaves no cgroup, directory or record.
rt_rm_leaves_nothing() {
        local id=$1 cgs=$2 c
        shift 2
        for c in $cgs; do
                [ -d "$c" ] || {
                        echo "$c went without rm: the test proves nothing"
                        return 1
                }
        done
        run --separate-stderr rt rm "$@" "$id"
        assert_status 0
        assert_eq "$stderr" ""
        for c in $cgs; do
                [ ! -e "$c" ] || {
                        echo "cgroup $c left after rm"
                        return 1
                }
        done
        [ ! -e "$RT_ROOT/containers/$id" ]
        assert_eq "$(rt containers --format json | jq length)" 0 "records left"
}

# rt_field ID FIELD: a field of the record of ID in `containers --format json`.
rt_field() {
        rt containers --format json | jq -r --arg id "$1" ".[] | select(.id == \$id) | .$2"
}
