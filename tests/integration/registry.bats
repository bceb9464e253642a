#!/usr/bin/env bats
# registry.bats — push, pull, login and logout against a real distribution registry (Debian's
# docker-registry 2.8) on 127.0.0.1: interop with skopeo both ways, blob skipping and cross-
# repository mounts counted in the registry's access log, Basic auth (htpasswd, auth.json,
# docker config, credential helpers), Bearer tokens from tools/token-server.py, and network
# faults injected by tools/fault-proxy.py (5xx, truncated and corrupted blobs, stalls, a huge
# manifest, a redirect to another host that must not receive the credentials).
#
# Servers (started once in setup_file, killed in teardown_file):
#   plain  a registry without auth          PLAIN_PORT
#   basic  a registry with auth.htpasswd     BASIC_PORT   (user $TEST_USER / $TEST_PASS)
#   token  a registry with auth.token        TOKEN_REG_PORT, the token server on TOKEN_PORT
#   proxy  the fault proxy (upstream and mode chosen per test)   PROXY_PORT
#   origin the redirect target, another loopback host             ORIGIN_HOST:ORIGIN_PORT
#
# Note on htpasswd (checked by hand with docker-registry 2.8.2+ds1): when auth.htpasswd.path does
# not exist the registry does NOT refuse to start; it creates the file with a user "docker" and
# a random bcrypt password, printed once in its log ("htpasswd is missing, provisioning with
# default user"). setup_file therefore creates the file before the registry starts and checks
# that our user is the only one in it.

load helpers
load registry-helpers

setup_file() {
        lana_setup_file
        skip_unless docker-registry skopeo jq openssl python3 curl htpasswd
        mkdir -p "$SRV"
        export HOME="$BATS_FILE_TMPDIR/home"
        mkdir -p "$HOME"
        unset XDG_RUNTIME_DIR DOCKER_CONFIG REGISTRY_AUTH_FILE

        # 10 MiB of incompressible, reproducible bytes
        export BIG_FILE="$BATS_FILE_TMPDIR/big.bin"
        openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
                -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null |
                head -c $((10 << 20)) >"$BIG_FILE"

        start_registry plain PLAIN_PORT

        mkdir -p "$SRV/basic"
        htpasswd -Bbn "$TEST_USER" "$TEST_PASS" >"$SRV/basic/htpasswd"
        start_registry basic BASIC_PORT "auth:
  htpasswd:
    realm: lana-basic
    path: $SRV/basic/htpasswd"
        [ "$(cut -d: -f1 "$SRV/basic/htpasswd")" = "$TEST_USER" ]

        mkdir -p "$SRV/token"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SRV/token/key.pem" \
                -out "$SRV/token/cert.pem" -days 2 -subj /CN=lana-token-issuer 2>/dev/null
        start_py token TOKEN_PORT token-server.py --key "$SRV/token/key.pem" \
                --issuer lana-test-issuer --service lana-test-registry --user "$TEST_USER:$TEST_PASS"
        start_registry tokreg TOKEN_REG_PORT "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: lana-test-registry
    issuer: lana-test-issuer
    rootcertbundle: $SRV/token/cert.pem"

        start_py proxy PROXY_PORT fault-proxy.py proxy --host 127.0.0.1
        # the redirect target must be another host: 127.0.0.2 where the loopback net allows it
        if python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0))' 2>/dev/null; then
                export ORIGIN_HOST=127.0.0.2
                start_py origin ORIGIN_PORT fault-proxy.py origin --host 127.0.0.2
        else
                export ORIGIN_HOST=localhost
                start_py origin ORIGIN_PORT fault-proxy.py origin --host 127.0.0.1
        fi

        # the image the fault tests pull: a small layer and a 10 MiB one, in the plain registry
        # as faults/img:1 and in the basic-auth registry as secret/img:1
        export SEED_ROOT="$BATS_FILE_TMPDIR/seed"
        make_image "$BATS_FILE_TMPDIR/seedctx" lana.test/seed "" big
        "$LANA_IMG" --root "$SEED_ROOT" build -q --platform linux/amd64 "$BATS_FILE_TMPDIR/seedctx" >"$BATS_FILE_TMPDIR/seed.digest"
        export SEED_DIGEST
        SEED_DIGEST=$(cat "$BATS_FILE_TMPDIR/seed.digest")
        export SEED_BIG
        SEED_BIG=$(jq -r '.layers[1].digest' "$SEED_ROOT/oci/blobs/sha256/${SEED_DIGEST#sha256:}")
        "$LANA_IMG" --root "$SEED_ROOT" push -q lana.test/seed:1 "127.0.0.1:$PLAIN_PORT/faults/img:1" >/dev/null
        auth_json "$BATS_FILE_TMPDIR/seed-auth.json" "127.0.0.1:$BASIC_PORT" "$TEST_USER" "$TEST_PASS"
        "$LANA_IMG" --root "$SEED_ROOT" push -q --authfile "$BATS_FILE_TMPDIR/seed-auth.json" \
                lana.test/seed:1 "127.0.0.1:$BASIC_PORT/secret/img:1" >/dev/null
}

teardown_file() {
        registry_teardown_file
}

setup() {
        lana_setup
        export HOME="$WORK/home"
        mkdir -p "$HOME"
        unset XDG_RUNTIME_DIR DOCKER_CONFIG REGISTRY_AUTH_FILE LANA_IMG_HTTP_STALL_TIMEOUT
        P=127.0.0.1:$PLAIN_PORT
}

# push_ok ARGS...: lana push ARGS must succeed and print one digest; sets PUSHED.
push_ok() {
        run --separate-stderr lana push "$@"
        if [ "$status" -ne 0 ]; then
                echo "push $* failed"
                show_run
                return 1
        fi
        assert_match "$output" "$SHA256_RE" || return 1
        PUSHED=$output
}

pull_ok() {
        run --separate-stderr lana pull "$@"
        if [ "$status" -ne 0 ]; then
                echo "pull $* failed"
                show_run
                return 1
        fi
        assert_match "$output" "$SHA256_RE" || return 1
        PULLED=$output
}

fsck_ok() {
        run --separate-stderr lana fsck
        assert_status 0 || return 1
        assert_eq "$output" ok "fsck output"
}

# requests_of STDERR: the "N requests" count a push or pull printed.
requests_of() {
        sed -n 's/.* \([0-9][0-9]*\) requests$/\1/p' <<<"$1"
}

# ---- 1: push, seen by skopeo ----

@test "push: skopeo sees the digest lana-img printed and copies byte-identical blobs" {
        make_image "$WORK/ctx" lana.test/one "" big
        build_ok -q --platform linux/amd64 ctx
        local built=$DIGEST
        push_ok lana.test/one:1 "$P/push/one:1"
        assert_eq "$PUSHED" "$built" "pushed digest"
        assert_match "$stderr" "pushed: 3 uploaded, 0 mounted, 0 already there"
        push_ok -q --digest-file "$WORK/pushed.digest" lana.test/one:1 "$P/push/one:1"
        assert_eq "$(cat "$WORK/pushed.digest")" "$built" "--digest-file"
        assert_eq "$stderr" "" "stderr with -q"

        run --separate-stderr skopeo inspect --tls-verify=false "docker://$P/push/one:1"
        assert_status 0
        assert_eq "$(jq -r .Digest <<<"$output")" "$PUSHED" "skopeo inspect digest"
        assert_eq "$(jq -r '.Layers | length' <<<"$output")" 2 "layer count"

        run --separate-stderr skopeo copy --src-tls-verify=false "docker://$P/push/one:1" "oci:$WORK/sk:1"
        assert_status 0
        local want got f
        want=$(image_blobs "$ROOT/oci" "$built")
        got=$(cd "$WORK/sk/blobs/sha256" && ls | LC_ALL=C sort)
        assert_same_text "$got" "$want" "blob names (skopeo copy vs store)"
        for f in $want; do
                cmp "$WORK/sk/blobs/sha256/$f" "$ROOT/oci/blobs/sha256/$f"
        done
        verify_blob_names "$WORK/sk"
}

@test "build --push: builds, then pushes every name to its registry" {
        make_image "$WORK/ctx" "$P/bp/app" ""
        run --separate-stderr "$LANA_IMG" --root "$ROOT" build -q --push --tls-verify=false \
                --platform linux/amd64 -t "$P/bp/app:extra" ctx
        assert_status 0
        local built=$output
        local tag
        for tag in 1 extra; do
                run --separate-stderr skopeo inspect --tls-verify=false "docker://$P/bp/app:$tag"
                assert_status 0
                assert_eq "$(jq -r .Digest <<<"$output")" "$built" "digest of :$tag"
        done
        # --push goes with the store only
        run --separate-stderr "$LANA_IMG" --root "$ROOT" build -q --push -o "oci:$WORK/o" ctx
        assert_status 2
}

@test "push: a multi-platform image arrives as an index, every manifest by digest" {
        make_image "$WORK/ctx" lana.test/multi "linux/amd64, linux/arm64"
        build_ok -q ctx
        local idx=$DIGEST
        assert_eq "$(jblob "$ROOT/oci" "$idx" .mediaType)" "$MT_INDEX" "built media type"
        push_ok lana.test/multi:1 "$P/push/multi:1"
        assert_eq "$PUSHED" "$idx" "pushed digest"

        run --separate-stderr skopeo inspect --raw --tls-verify=false "docker://$P/push/multi:1"
        assert_status 0
        local raw=$output
        assert_eq "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" "$idx" "raw index digest"
        assert_eq "$(jq -r .mediaType <<<"$raw")" "$MT_INDEX" "mediaType"
        assert_eq "$(jq -c '[.manifests[].platform.architecture]' <<<"$raw")" '["amd64","arm64"]' "platforms"
        # every platform manifest is there, byte for byte
        local m
        for m in $(jq -r '.manifests[].digest' <<<"$raw"); do
                run --separate-stderr skopeo inspect --raw --tls-verify=false "docker://$P/push/multi@$m"
                assert_status 0
                assert_eq "sha256:$(printf '%s' "$output" | sha256sum | cut -d' ' -f1)" "$m" "manifest $m"
        done
        # and skopeo copy --all reproduces the whole closure of the store's image
        run --separate-stderr skopeo copy --all --src-tls-verify=false "docker://$P/push/multi:1" "oci:$WORK/sk:1"
        assert_status 0
        assert_same_text "$(cd "$WORK/sk/blobs/sha256" && ls | LC_ALL=C sort)" \
                "$(image_blobs "$ROOT/oci" "$idx")" "blob names (skopeo copy --all vs store)"
}

# ---- 2: pull what skopeo pushed ----

@test "pull: an image pushed by skopeo pulls into a fresh store; fsck clean; inspect works" {
        make_image "$WORK/ctx" lana.test/sk "" big
        build_ok -q --platform linux/amd64 -o "oci:$WORK/layout" ctx
        local d=$DIGEST
        run --separate-stderr skopeo copy --dest-tls-verify=false "oci:$WORK/layout:1" "docker://$P/skopeo/img:1"
        assert_status 0
        [ ! -e "$ROOT" ]
        pull_ok "$P/skopeo/img:1"
        assert_eq "$PULLED" "$d" "pulled digest"
        assert_match "$stderr" "pulled: 3 blobs fetched"
        fsck_ok
        run --separate-stderr lana inspect "$P/skopeo/img:1"
        assert_status 0
        assert_eq "$(jq -r .digest <<<"$output")" "$d" "inspect digest"
        assert_eq "$(jq -r .config.architecture <<<"$output")" amd64 "inspect architecture"
        assert_same_text "$(image_blobs "$ROOT/oci" "$d")" "$(image_blobs "$WORK/layout" "$d")" "blobs"
        # pulling again fetches nothing
        pull_ok "$P/skopeo/img:1"
        assert_match "$stderr" "pulled: 0 blobs fetched"
}

@test "pull: by digest; --all-platforms keeps the index; --platform names that manifest" {
        make_image "$WORK/ctx" lana.test/mp "linux/amd64, linux/arm64"
        build_ok -q -o "oci:$WORK/layout" ctx
        local idx=$DIGEST amd arm
        amd=$(manifest_of "$WORK/layout" "$idx" amd64)
        arm=$(manifest_of "$WORK/layout" "$idx" arm64)
        run --separate-stderr skopeo copy --all --dest-tls-verify=false "oci:$WORK/layout:1" "docker://$P/skopeo/mp:1"
        assert_status 0

        # by digest (of a platform manifest): the name is repo@digest
        pull_ok "$P/skopeo/mp@$arm"
        assert_eq "$PULLED" "$arm" "pulled by digest"
        run --separate-stderr lana inspect "$P/skopeo/mp@$arm"
        assert_status 0
        assert_eq "$(jq -r .digest <<<"$output")" "$arm" "inspect by digest"
        assert_eq "$(jq -r .config.architecture <<<"$output")" arm64 "architecture by digest"
        # a wrong digest is not found (exit 4), not silently replaced
        run --separate-stderr lana pull "$P/skopeo/mp@sha256:$(printf x | sha256sum | cut -d' ' -f1)"
        assert_status 4

        # by the index digest: the host's manifest is fetched and named (as for a tag)
        local host_arch
        case "$(uname -m)" in aarch64) host_arch=arm64 ;; *) host_arch=amd64 ;; esac
        pull_ok "$P/skopeo/mp@$idx"
        assert_eq "$PULLED" "$(manifest_of "$WORK/layout" "$idx" "$host_arch")" "pulled by index digest"

        # --all-platforms: the name points at the index and every manifest is stored
        pull_ok --all-platforms "$P/skopeo/mp:1"
        assert_eq "$PULLED" "$idx" "--all-platforms digest"
        run --separate-stderr lana inspect "$P/skopeo/mp:1"
        assert_status 0
        assert_eq "$(jq -r .digest <<<"$output")" "$idx" "name points at the index"
        assert_same_text "$(image_blobs "$ROOT/oci" "$idx")" "$(image_blobs "$WORK/layout" "$idx")" "all-platform blobs"
        fsck_ok

        # --platform linux/arm64 into a fresh store: the name points at the arm64 manifest
        ROOT="$WORK/store2"
        pull_ok --platform linux/arm64 "$P/skopeo/mp:1"
        assert_eq "$PULLED" "$arm" "--platform digest"
        run --separate-stderr lana images
        assert_status 0
        assert_line "$output" "^$P/skopeo/mp:1 +${arm:0:19} +linux/arm64 "
        [ ! -e "$ROOT/oci/blobs/sha256/${amd#sha256:}" ] || {
                echo "the amd64 manifest was stored by a linux/arm64 pull"
                return 1
        }
        fsck_ok
        run --separate-stderr lana pull --platform linux/s390x "$P/skopeo/mp:1"
        assert_status 4
        assert_contains "$stderr" "no manifest for linux/s390x"
}

# ---- 3: re-push uploads nothing ----

@test "push: re-push of an unchanged image uploads no blob and takes < 10 requests" {
        make_image "$WORK/ctx" lana.test/again "" big
        build_ok -q --platform linux/amd64 ctx
        push_ok lana.test/again:1 "$P/again/img:1"
        assert_match "$stderr" "pushed: 3 uploaded"

        local mark lines n
        mark=$(access_mark plain)
        push_ok lana.test/again:1 "$P/again/img:1"
        lines=$(access_since plain "$mark")
        assert_eq "$(count_lines "$lines" '"(PUT|PATCH|POST) ')" 0 "uploads in the re-push: $lines"
        n=$(count_lines "$lines" '"[A-Z]+ /')
        [ "$n" -ge 1 ] && [ "$n" -lt 10 ] || {
                echo "re-push made $n requests (registry log):"
                echo "$lines"
                return 1
        }
        assert_match "$stderr" "pushed: 0 uploaded, 0 mounted, [0-9]+ already there, [0-9]+ requests"
        local said
        said=$(requests_of "$stderr")
        [ "$said" -lt 10 ] && [ "$said" -ge "$n" ] || {
                echo "push says $said requests, the registry logged $n"
                return 1
        }

        # under a new tag: blobs are skipped, only the manifest is PUT
        mark=$(access_mark plain)
        push_ok lana.test/again:1 "$P/again/img:2"
        lines=$(access_since plain "$mark")
        assert_eq "$(count_lines "$lines" '"(PATCH|POST) ')" 0 "POST/PATCH under a new tag: $lines"
        assert_eq "$(count_lines "$lines" '"PUT /v2/again/img/blobs/')" 0 "blob PUTs under a new tag"
        assert_eq "$(count_lines "$lines" '"PUT /v2/again/img/manifests/2 ')" 1 "manifest PUT"
        assert_match "$stderr" "pushed: 0 uploaded, 0 mounted, 3 already there"
}

# ---- 4: cross-repository mount ----

@test "push: a second repository of the same registry mounts blobs instead of uploading" {
        make_image "$WORK/ctx" lana.test/mnt "" big
        build_ok -q --platform linux/amd64 ctx
        push_ok lana.test/mnt:1 "$P/mount/a:1"
        local a=$PUSHED mark lines
        mark=$(access_mark plain)
        push_ok lana.test/mnt:1 "$P/mount/b:1"
        assert_eq "$PUSHED" "$a" "digest in b"
        lines=$(access_since plain "$mark")
        assert_line "$stderr" '^layer +sha256:[0-9a-f]{12} +.* mounted$'
        assert_match "$stderr" "pushed: 0 uploaded, 3 mounted"
        assert_eq "$(count_lines "$lines" '"POST /v2/mount/b/blobs/uploads/\?mount=sha256:[0-9a-f]{64}&from=mount/a HTTP/1.1" 201')" 3 \
                "mount requests in: $lines"
        assert_eq "$(count_lines "$lines" '"(PUT|PATCH) /v2/mount/b/blobs/')" 0 "blob uploads to b"
        assert_eq "$(count_lines "$lines" '"POST /v2/mount/b/blobs/uploads/ ')" 0 "plain upload sessions for b"
        run --separate-stderr skopeo inspect --tls-verify=false "docker://$P/mount/b:1"
        assert_status 0
        assert_eq "$(jq -r .Digest <<<"$output")" "$a" "skopeo sees b"
}

# ---- 5: Basic auth ----

@test "libcurl is loaded by the registry commands only: a missing one is one line, exit 1" {
        make_image "$WORK/ctx" lana.test/nocurl
        # build, images and run never load it
        LANA_IMG_LIBCURL=/nonexistent/libcurl.so.4 build_ok -q --platform linux/amd64 ctx
        LANA_IMG_LIBCURL=/nonexistent/libcurl.so.4 lana images >/dev/null
        local cmd
        for cmd in push login pull; do
                case $cmd in
                push) set -- push lana.test/nocurl:1 "127.0.0.1:$PLAIN_PORT/nocurl/img:1" ;;
                login) set -- login -u u --password-stdin "127.0.0.1:$BASIC_PORT" ;;
                pull) set -- pull "127.0.0.1:$PLAIN_PORT/nocurl/img:1" ;;
                esac
                run --separate-stderr env LANA_IMG_LIBCURL=/nonexistent/libcurl.so.4 \
                        "$LANA_IMG" --root "$ROOT" "$@" <<< "$TEST_PASS"
                assert_status 1
                assert_one_line_error
                assert_contains "$stderr" "cannot load libcurl (/nonexistent/libcurl.so.4)"
        done
        [ ! -e "$SRV/plain/storage/docker/registry/v2/repositories/nocurl" ]
}

@test "basic auth: push without credentials fails with exit 1 and points to login" {
        make_image "$WORK/ctx" lana.test/anon
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana push lana.test/anon:1 "127.0.0.1:$BASIC_PORT/anon/img:1"
        assert_status 1
        assert_one_line_error
        assert_match "$stderr" "(login|401)"
        [ ! -e "$SRV/basic/storage/docker/registry/v2/repositories/anon" ]
        # pull too
        ROOT="$WORK/store2"
        run --separate-stderr lana pull "127.0.0.1:$BASIC_PORT/secret/img:1"
        assert_status 1
        assert_match "$stderr" "(login|401)"
}

@test "basic auth: login writes a 0600 auth.json; push works with it; logout removes it" {
        local B=127.0.0.1:$BASIC_PORT F="$WORK/auth/auth.json"
        make_image "$WORK/ctx" lana.test/basic
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana login "$B" -u "$TEST_USER" --password-stdin --authfile "$F" <<<"$TEST_PASS"
        assert_status 0
        assert_eq "$(stat -c %a "$F")" 600 "auth file mode"
        assert_eq "$(jq -r --arg h "$B" '.auths[$h].auth' "$F" | base64 -d)" "$TEST_USER:$TEST_PASS" "stored auth"

        push_ok --authfile "$F" lana.test/basic:1 "$B/basic/img:1"
        REGISTRY_AUTH_FILE="$F" push_ok lana.test/basic:1 "$B/basic/img:2"
        assert_match "$stderr" "already there"
        run --separate-stderr skopeo inspect --tls-verify=false --creds "$TEST_USER:$TEST_PASS" "docker://$B/basic/img:2"
        assert_status 0
        assert_eq "$(jq -r .Digest <<<"$output")" "$PUSHED" "skopeo sees the pushed image"
        # default location: $XDG_RUNTIME_DIR/containers/auth.json
        export XDG_RUNTIME_DIR="$WORK/run"
        run --separate-stderr lana login "$B" -u "$TEST_USER" --password-stdin <<<"$TEST_PASS"
        assert_status 0
        assert_eq "$(stat -c %a "$XDG_RUNTIME_DIR/containers/auth.json")" 600 "default auth file mode"
        ROOT="$WORK/store2"
        pull_ok "$B/basic/img:1"
        unset XDG_RUNTIME_DIR
        ROOT="$WORK/store"

        run --separate-stderr lana logout "$B" --authfile "$F"
        assert_status 0
        assert_eq "$(jq -r --arg h "$B" '.auths | has($h)' "$F")" false "entry after logout"
        assert_eq "$(stat -c %a "$F")" 600 "auth file mode after logout"
        run --separate-stderr lana logout "$B" --authfile "$F"
        assert_status 4
        run --separate-stderr lana push --authfile "$F" lana.test/basic:1 "$B/basic/img:3"
        assert_status 1
}

@test "basic auth: login with a wrong password fails with exit 1 and writes nothing" {
        local B=127.0.0.1:$BASIC_PORT F="$WORK/auth.json"
        run --separate-stderr lana login "$B" -u "$TEST_USER" --password-stdin --authfile "$F" <<<"wrong"
        assert_status 1
        assert_one_line_error
        assert_match "$stderr" "(401|unauthorized|wrong user name or password)"
        [ ! -e "$F" ] || {
                echo "login with a wrong password created $F:"
                cat "$F"
                return 1
        }
        # an existing file keeps its other entries untouched
        auth_json "$F" other.example.com a b
        local before
        before=$(sha256sum <"$F")
        run --separate-stderr lana login "$B" -u "$TEST_USER" --password-stdin --authfile "$F" <<<"wrong"
        assert_status 1
        assert_eq "$(sha256sum <"$F")" "$before" "auth file after a failed login"
        [ -z "$(find "$HOME" -name auth.json)" ]
}

@test "basic auth: credentials from \$DOCKER_CONFIG auths and from a credHelpers helper" {
        local B=127.0.0.1:$BASIC_PORT
        make_image "$WORK/ctx" lana.test/docker
        build_ok -q --platform linux/amd64 ctx

        export DOCKER_CONFIG="$WORK/docker"
        mkdir -p "$DOCKER_CONFIG"
        auth_json "$DOCKER_CONFIG/config.json" "$B" "$TEST_USER" "$TEST_PASS"
        push_ok lana.test/docker:1 "$B/docker/auths:1"

        # a credential helper: docker-credential-test on PATH, host on stdin
        mkdir -p "$WORK/bin"
        cat >"$WORK/bin/docker-credential-test" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r host
echo "\$host" >>"$WORK/helper.log"
[ "\$host" = "$B" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$host" "$TEST_USER" "$TEST_PASS"
EOF
        chmod +x "$WORK/bin/docker-credential-test"
        jq -n --arg h "$B" '{credHelpers: {($h): "test"}, auths: {}}' >"$DOCKER_CONFIG/config.json"
        PATH="$WORK/bin:$PATH" push_ok lana.test/docker:1 "$B/docker/helper:1"
        assert_eq "$(sort -u "$WORK/helper.log")" "$B" "hosts asked of the helper"
        # credsStore as the fallback for every host
        rm -f "$WORK/helper.log"
        jq -n '{credsStore: "test"}' >"$DOCKER_CONFIG/config.json"
        PATH="$WORK/bin:$PATH" push_ok lana.test/docker:1 "$B/docker/store:1"
        assert_eq "$(sort -u "$WORK/helper.log")" "$B" "hosts asked of the credsStore helper"
}

@test "basic auth: a configured credential helper missing from PATH fails with exit 1, naming it" {
        local B=127.0.0.1:$BASIC_PORT
        make_image "$WORK/ctx" lana.test/nohelper
        build_ok -q --platform linux/amd64 ctx
        export DOCKER_CONFIG="$WORK/docker"
        mkdir -p "$DOCKER_CONFIG"
        jq -n --arg h "$B" '{credHelpers: {($h): "lana-absent"}}' >"$DOCKER_CONFIG/config.json"
        # exit 1 is "failure (network, registry, auth)"; 4 would claim the SRC image is missing
        run --separate-stderr lana push lana.test/nohelper:1 "$B/docker/nohelper:1"
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" docker-credential-lana-absent
        ROOT="$WORK/store2"
        run --separate-stderr lana pull "$B/secret/img:1"
        assert_status 1
        assert_contains "$stderr" docker-credential-lana-absent
}

# ---- 6: token auth ----

@test "token auth: login, push, cross-repository mount with pull scope on the source, pull" {
        local T=127.0.0.1:$TOKEN_REG_PORT F="$WORK/auth.json"
        make_image "$WORK/ctx" lana.test/tok "" big
        build_ok -q --platform linux/amd64 ctx
        local d=$DIGEST
        run --separate-stderr lana login "$T" -u "$TEST_USER" --password-stdin --authfile "$F" <<<"$TEST_PASS"
        assert_status 0
        push_ok --authfile "$F" lana.test/tok:1 "$T/tok/a:1"
        assert_eq "$PUSHED" "$d" "pushed digest"
        assert_match "$stderr" "pushed: 3 uploaded"
        : >"$SRV/token/requests.log"
        push_ok --authfile "$F" lana.test/tok:1 "$T/tok/b:1"
        assert_match "$stderr" "pushed: 0 uploaded, 3 mounted"
        local log
        log=$(token_log)
        jq -e -s 'any(.[]; .ok and .service == "lana-test-registry"
                        and (.scopes | index("repository:tok/a:pull"))
                        and (.scopes | any(startswith("repository:tok/b:") and contains("push"))))' <<<"$log" >/dev/null || {
                echo "no token request with pull on tok/a and push on tok/b; token server saw:"
                echo "$log"
                return 1
        }
        run --separate-stderr skopeo inspect --tls-verify=false --creds "$TEST_USER:$TEST_PASS" "docker://$T/tok/b:1"
        assert_status 0
        assert_eq "$(jq -r .Digest <<<"$output")" "$d" "skopeo sees tok/b"

        ROOT="$WORK/store2"
        pull_ok --authfile "$F" "$T/tok/b:1"
        assert_eq "$PULLED" "$d" "pulled digest"
        fsck_ok
        jq -e -s 'any(.[]; .ok and .scopes == ["repository:tok/b:pull"])' "$SRV/token/requests.log" >/dev/null
}

@test "token auth: a wrong password fails with exit 1 and stores nothing" {
        local T=127.0.0.1:$TOKEN_REG_PORT F="$WORK/auth.json"
        make_image "$WORK/ctx" lana.test/tokbad
        build_ok -q --platform linux/amd64 ctx
        run --separate-stderr lana login "$T" -u "$TEST_USER" --password-stdin --authfile "$F" <<<"wrong"
        assert_status 1
        assert_match "$stderr" "(401|wrong user name or password)"
        [ ! -e "$F" ]

        auth_json "$F" "$T" "$TEST_USER" wrong
        run --separate-stderr lana push --authfile "$F" lana.test/tokbad:1 "$T/tokbad/img:1"
        assert_status 1
        assert_one_line_error
        assert_match "$stderr" "(401|wrong user name or password)"
        [ ! -e "$SRV/tokreg/storage/docker/registry/v2/repositories/tokbad" ] || {
                echo "a push with a wrong password stored something:"
                find "$SRV/tokreg/storage/docker/registry/v2/repositories/tokbad" | head
                return 1
        }
        local before
        before=$(store_files)
        run --separate-stderr lana pull --authfile "$F" "$T/tok/a:1"
        assert_status 1
        assert_match "$stderr" "(401|wrong user name or password)"
        assert_same_text "$(store_files)" "$before" "store after the failed pull"
}

# ---- 7: faults between lana-img and the registry ----

fault_setup() {
        proxy_mode "{\"mode\": \"$1\", \"upstream\": \"http://127.0.0.1:${2:-$PLAIN_PORT}\"${3:+, $3}}"
        X=127.0.0.1:$PROXY_PORT
}

@test "faults: HTTP 500 on a blob upload is retried with a new upload session" {
        make_image "$WORK/ctx" lana.test/up500
        build_ok -q --platform linux/amd64 ctx
        fault_setup upload500
        push_ok -j 1 lana.test/up500:1 "$X/up500/img:1"
        assert_eq "$PUSHED" "$DIGEST" "pushed digest"
        assert_match "$stderr" "pushed: 2 uploaded"
        local log
        log=$(proxy_log)
        assert_eq "$(jq -s '[.[] | select(.action == "500")] | length' <<<"$log")" 1 "injected 500s"
        assert_eq "$(jq -s '[.[] | select(.action == "pass" and .method == "PUT" and .status == 201 and (.path | contains("/blobs/uploads/")))] | length' <<<"$log")" 2 \
                "blob PUTs that succeeded"
        run --separate-stderr skopeo inspect --tls-verify=false "docker://$P/up500/img:1"
        assert_status 0
        assert_eq "$(jq -r .Digest <<<"$output")" "$DIGEST" "skopeo sees the image"
}

@test "faults: HTTP 500 on the first blob GET is retried" {
        fault_setup blob500
        pull_ok "$X/faults/img:1"
        assert_eq "$PULLED" "$SEED_DIGEST" "pulled digest"
        fsck_ok
        local log
        log=$(proxy_log)
        assert_eq "$(jq -s '[.[] | select(.action == "500")] | length' <<<"$log")" 1 "injected 500s"
        local failed
        failed=$(jq -r -s '.[] | select(.action == "500") | .digest' <<<"$log")
        assert_eq "$(jq -s --arg d "$failed" '[.[] | select(.action == "pass" and .status == 200 and (.path | endswith($d)))] | length' <<<"$log")" 1 \
                "successful GETs of $failed after the 500"
}

@test "faults: a blob cut off mid-way resumes with Range; fsck clean" {
        fault_setup truncate "" "\"digest\": \"$SEED_BIG\""
        pull_ok "$X/faults/img:1"
        assert_eq "$PULLED" "$SEED_DIGEST" "pulled digest"
        fsck_ok
        local log sent
        log=$(proxy_log)
        sent=$(jq -r -s '.[] | select(.action == "truncated") | .sent' <<<"$log")
        [ "$sent" -gt $((4 << 20)) ] || {
                echo "the proxy did not cut the blob: $log"
                return 1
        }
        assert_eq "$(jq -r -s --arg d "$SEED_BIG" '.[] | select(.action == "pass" and (.path | endswith($d))) | "\(.status) \(.range)"' <<<"$log")" \
                "206 bytes=$sent-" "the retry of the cut blob"
        cmp "$ROOT/oci/blobs/sha256/${SEED_BIG#sha256:}" "$SEED_ROOT/oci/blobs/sha256/${SEED_BIG#sha256:}"
}

@test "faults: a corrupted blob fails with exit 1 naming the digest; the store is unchanged" {
        make_image "$WORK/ctx" lana.test/prime
        build_ok -q --platform linux/amd64 ctx
        local before
        before=$(store_files)
        fault_setup corrupt "" "\"digest\": \"$SEED_BIG\""
        run --separate-stderr lana pull -q "$X/faults/img:1"
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" "blob $SEED_BIG: content hashes to sha256:"
        assert_same_text "$(store_files)" "$before" "store after the failed pull"
        run --separate-stderr lana inspect "$X/faults/img:1"
        assert_status 4
        # the fault gone, the same pull succeeds
        fault_setup pass
        pull_ok "$X/faults/img:1"
        fsck_ok
}

@test "faults: a pull cut off on every attempt fails; the next pull resumes from the partial blob" {
        fault_setup truncate-always "" "\"digest\": \"$SEED_BIG\""
        run --separate-stderr lana pull -q "$X/faults/img:1"
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" "$SEED_BIG"
        local cuts
        cuts=$(jq -s '[.[] | select(.action == "truncated")] | length' <<<"$(proxy_log)")
        [ "$cuts" -ge 2 ] || {
                echo "only $cuts cut GETs"
                proxy_log
                return 1
        }
        local partial="$ROOT/oci/blobs/sha256/.partial-${SEED_BIG#sha256:}" have
        [ -f "$partial" ] || {
                echo "no partial blob kept after the failed pull:"
                ls -la "$ROOT/oci/blobs/sha256"
                return 1
        }
        have=$(stat -c %s "$partial")
        [ "$have" -gt 0 ] || {
                echo "the partial blob is empty"
                return 1
        }
        run --separate-stderr lana inspect "$X/faults/img:1"
        assert_status 4

        fault_setup pass
        pull_ok "$X/faults/img:1"
        assert_eq "$PULLED" "$SEED_DIGEST" "pulled digest"
        assert_line "$stderr" "^layer +${SEED_BIG:0:19} .* fetched \\(resumed\\)$"
        assert_eq "$(jq -r -s --arg d "$SEED_BIG" '.[] | select(.path | endswith($d)) | "\(.status) \(.range)"' <<<"$(proxy_log)")" \
                "206 bytes=$have-" "the resuming GET"
        fsck_ok
        [ ! -e "$partial" ]
}

@test "faults: a stalled blob is abandoned after LANA_IMG_HTTP_STALL_TIMEOUT and retried" {
        fault_setup stall "" "\"digest\": \"$SEED_BIG\", \"stall\": 30"
        local t0=$SECONDS
        LANA_IMG_HTTP_STALL_TIMEOUT=2 pull_ok "$X/faults/img:1"
        local took=$((SECONDS - t0))
        [ "$took" -lt 20 ] || {
                echo "pull took ${took}s with a 2 s stall timeout"
                return 1
        }
        [ "$took" -ge 2 ] || {
                echo "pull took ${took}s: the stall was never hit?"
                proxy_log
                return 1
        }
        assert_eq "$PULLED" "$SEED_DIGEST" "pulled digest"
        fsck_ok
        assert_eq "$(jq -r -s '[.[] | select(.path | endswith("'"$SEED_BIG"'")) | .action] | join(" ")' <<<"$(proxy_log)")" \
                "stalled pass" "GETs of the stalled blob"
}

@test "faults: a blob that always stalls fails within a bounded time with a clear message" {
        fault_setup stall-always "" "\"digest\": \"$SEED_BIG\", \"stall\": 30"
        local t0=$SECONDS before
        mkdir -p "$ROOT"
        before=$(store_files)
        LANA_IMG_HTTP_STALL_TIMEOUT=1 run --separate-stderr lana pull -q "$X/faults/img:1"
        local took=$((SECONDS - t0))
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" "${SEED_BIG}"
        assert_match "$stderr" "([Tt]oo slow|[Tt]imed? ?out|stall)"
        [ "$took" -lt 30 ] || {
                echo "failing took ${took}s"
                return 1
        }
        assert_same_text "$(store_files)" "$before" "store after the failed pull"
}

@test "faults: a 50 MiB manifest is refused with 'larger than', exit 1, bounded memory" {
        fault_setup bigmanifest
        mkdir -p "$ROOT"
        local before
        before=$(store_files)
        run --separate-stderr maxrss_run "$WORK/rss" "$LANA_IMG" --root "$ROOT" pull -q "$X/faults/img:1"
        assert_status 1
        assert_one_line_error
        assert_contains "$stderr" "larger than"
        local rss
        rss=$(cat "$WORK/rss")
        [ "$rss" -lt $((32 << 10)) ] || {
                echo "peak RSS ${rss} KiB while refusing a 50 MiB manifest"
                return 1
        }
        local sent
        sent=$(jq -s 'map(select(.action == "bigmanifest") | .sent) | max' <<<"$(proxy_log)")
        [ "$sent" -lt $((50 << 20)) ] || {
                echo "lana-img read the whole 50 MiB manifest before refusing it"
                return 1
        }
        assert_same_text "$(store_files)" "$before" "store after the failed pull"
}

@test "faults: a blob redirect to another host does not carry the credentials" {
        local F="$WORK/auth.json"
        fault_setup redirect "$BASIC_PORT" "\"redirect\": \"http://$ORIGIN_HOST:$ORIGIN_PORT\""
        origin_dir "$SEED_ROOT/oci/blobs/sha256"
        auth_json "$F" "127.0.0.1:$PROXY_PORT" "$TEST_USER" "$TEST_PASS"
        pull_ok --authfile "$F" "$X/secret/img:1"
        assert_eq "$PULLED" "$SEED_DIGEST" "pulled digest"
        fsck_ok
        local plog olog
        plog=$(proxy_log)
        olog=$(origin_log)
        # the registry side did get the credentials (else this test proves nothing)
        assert_eq "$(jq -s '[.[] | select(.action == "307" and (.headers.Authorization // "" | startswith("Basic ")))] | length' <<<"$plog")" 3 \
                "authorized blob GETs redirected by the proxy"
        assert_eq "$(jq -s '[.[] | select(.action == "served")] | length' <<<"$olog")" 3 "blobs served by the origin"
        local leaked
        leaked=$(jq -c -s '[.[] | select(.headers | keys | map(ascii_downcase) | index("authorization"))]' <<<"$olog")
        assert_eq "$leaked" "[]" "requests to $ORIGIN_HOST:$ORIGIN_PORT carrying Authorization"
}
