# registry-helpers.bash — the peers registry.bats talks to, all on loopback and all owned by the
# test file: distribution registries (plain, htpasswd, token), the token server and the fault
# proxy with its redirect origin (tools/*.py). Servers are started by registry_setup_file and
# killed by registry_teardown_file; their state lives in $BATS_FILE_TMPDIR/srv/<name>/.
#
# Registry logs: the distribution registry prints its access log (Apache combined format, one
# line per request) on stdout and its own log on stderr; we keep them in access.log and
# registry.log. access_mark/access_since cut out the lines one command caused.

REG_TOOLS="$BATS_TEST_DIRNAME/tools"
SRV="$BATS_FILE_TMPDIR/srv"
TEST_USER=lana
TEST_PASS='s3cret pass:word'

# free_port: a port nothing listens on right now (127.0.0.1).
free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for TIMEOUT-TENTHS CMD...: runs CMD every 0.1 s until it succeeds; fails after the timeout.
wait_for() {
        local tries=$1 i
        shift
        for ((i = 0; i < tries; i++)); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

# bg NAME CMD...: starts a server in the background (fd 3 closed so bats does not wait for it),
# remembers its pid for teardown. Output goes to $SRV/NAME/out.log unless CMD redirects itself.
bg_start() {
        local name=$1
        shift
        mkdir -p "$SRV/$name"
        "$@" </dev/null >>"$SRV/$name/out.log" 2>&1 3>&- &
        echo $! >"$SRV/$name/pid"
}

http_code() {
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null
}

registry_up() {
        local c
        c=$(http_code "http://127.0.0.1:$1/v2/")
        [ "$c" = 200 ] || [ "$c" = 401 ]
}

# start_registry NAME VAR [AUTH-YAML]: a distribution registry on a free port with storage in
# $SRV/NAME/storage; the port is stored in $VAR (exported). Retries when the port was taken.
start_registry() {
        local name=$1 var=$2 auth=${3:-} dir="$SRV/$1" port attempt
        mkdir -p "$dir/storage"
        for attempt in 1 2 3; do
                port=$(free_port)
                cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: lana-img-test-secret
$auth
EOF
                docker-registry serve "$dir/config.yml" </dev/null >>"$dir/access.log" \
                        2>>"$dir/registry.log" 3>&- &
                echo $! >"$dir/pid"
                if wait_for 100 registry_up "$port"; then
                        printf -v "$var" '%s' "$port"
                        export "${var?}"
                        return 0
                fi
                kill "$(cat "$dir/pid")" 2>/dev/null || true
        done
        echo "# registry $name did not start; log:" >&3
        sed 's/^/# /' "$dir/registry.log" >&3
        return 1
}

# start_py NAME VAR SCRIPT ARGS...: a tools/ server that binds port 0 and writes --port-file.
start_py() {
        local name=$1 var=$2 script=$3
        shift 3
        local dir="$SRV/$name"
        mkdir -p "$dir"
        bg_start "$name" python3 "$REG_TOOLS/$script" --port-file "$dir/port" --log "$dir/requests.log" "$@"
        if ! wait_for 100 test -s "$dir/port"; then
                echo "# $script did not start:" >&3
                sed 's/^/# /' "$dir/out.log" >&3
                return 1
        fi
        printf -v "$var" '%s' "$(cat "$dir/port")"
        export "${var?}"
}

# registry_teardown_file: kills every server this file started, by pid, and waits (bounded).
registry_teardown_file() {
        local f pid
        for f in "$SRV"/*/pid; do
                [ -f "$f" ] || continue
                pid=$(cat "$f")
                kill "$pid" 2>/dev/null || continue
                wait_for 50 eval "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
        done
}

# ---- access log ----

# access_mark REG: the current number of access log lines of registry REG.
access_mark() {
        wc -l <"$SRV/$1/access.log"
}

# access_since REG MARK: the access log lines after MARK. A sentinel request is sent first and
# waited for, so every request the previous command made has been logged.
access_since() {
        local reg=$1 mark=$2 port s
        port=$(sed -n 's/^  addr: 127.0.0.1://p' "$SRV/$reg/config.yml")
        s="sentinel/m$RANDOM$RANDOM"
        curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/v2/$s/manifests/x" || true
        wait_for 50 grep -q "$s" "$SRV/$reg/access.log" || {
                echo "sentinel $s never reached the access log of $reg" >&2
                return 1
        }
        tail -n "+$((mark + 1))" "$SRV/$reg/access.log" | grep -v "/v2/sentinel/" || true
}

# count_lines TEXT ERE: how many lines of TEXT match.
count_lines() {
        if [ -z "$1" ]; then
                echo 0
                return
        fi
        printf '%s\n' "$1" | grep -Ec -- "$2" || true
}

# ---- images ----

# make_image DIR NAME [PLATFORMS] [big]: a scratch image with a file unique to NAME and,
# with "big", a 10 MiB incompressible layer (the same bytes in every image).
make_image() {
        local dir=$1 name=$2 plats=${3:-} big=${4:-}
        mkdir -p "$dir"
        printf 'image %s\n' "$name" >"$dir/data.txt"
        {
                echo "image: $name"
                echo "tags: [\"1\"]"
                echo "base: scratch"
                [ -n "$plats" ] && echo "platforms: [$plats]"
                echo "layers:"
                echo "  - name: data"
                echo "    files:"
                echo "      - src: data.txt"
                echo "        dst: /data.txt"
                if [ -n "$big" ]; then
                        ln -f "$BIG_FILE" "$dir/big.bin" 2>/dev/null || cp "$BIG_FILE" "$dir/big.bin"
                        echo "  - name: big"
                        echo "    files:"
                        echo "      - src: big.bin"
                        echo "        dst: /big.bin"
                fi
        } >"$dir/lana-img.yaml"
}

# image_blobs LAYOUT DIGEST: every blob DIGEST refers to (itself, manifests, configs, layers),
# one hex name per line, sorted.
image_blobs() {
        local l=$1 d=$2 mt m
        {
                echo "${d#sha256:}"
                mt=$(jblob "$l" "$d" .mediaType)
                if [ "$mt" = "$MT_INDEX" ]; then
                        for m in $(jblob "$l" "$d" '.manifests[].digest'); do
                                echo "${m#sha256:}"
                                jblob "$l" "$m" '.config.digest, .layers[].digest' | sed 's/^sha256://'
                        done
                else
                        jblob "$l" "$d" '.config.digest, .layers[].digest' | sed 's/^sha256://'
                fi
        } | LC_ALL=C sort -u
}

# store_files [ROOT]: the store's files (not dot-files: partial downloads may stay) with hashes.
store_files() {
        (
                cd "${1:-$ROOT}" || exit 1
                find . -name '.*' -prune -o -printf '%y %m %P\n' | LC_ALL=C sort
                find . -name '.*' -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
        )
}

# maxrss_run FILE CMD...: runs CMD (status, stdout, stderr pass through) and writes its peak
# resident set size in KiB to FILE.
maxrss_run() {
        local f=$1
        shift
        python3 -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)' "$f" "$@"
}

# proxy_mode JSON: steers the fault proxy (and resets its log); proxy_log is what it saw.
proxy_mode() {
        curl -sf -m 5 -X POST --data-binary "$1" "http://127.0.0.1:$PROXY_PORT/__control" >/dev/null
}

origin_dir() {
        curl -sf -m 5 -X POST --data-binary "{\"dir\": \"$1\"}" \
                "http://$ORIGIN_HOST:$ORIGIN_PORT/__control" >/dev/null
}

proxy_log() { cat "$SRV/proxy/requests.log"; }
origin_log() { cat "$SRV/origin/requests.log"; }
token_log() { cat "$SRV/token/requests.log"; }

# auth_json FILE HOST USER PASS: writes a containers auth.json with one entry.
auth_json() {
        local b
        b=$(printf '%s:%s' "$3" "$4" | base64 -w0)
        jq -n --arg h "$2" --arg a "$b" '{auths: {($h): {auth: $a}}}' >"$1"
}
