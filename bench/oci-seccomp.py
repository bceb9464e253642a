#!/usr/bin/env python3
"""bench/oci-seccomp.py PROFILE CAP... — prints the OCI runtime-spec `linux.seccomp` object that
a Docker-format seccomp profile (defaultAction, archMap, syscalls with includes/excludes, as in
containers-common's /usr/share/containers/seccomp.json) gives on this machine for a container
holding the capabilities CAP... (CAP_CHOWN ...), the way Docker and Podman resolve it before they
hand it to runc or crun: the native architecture with its sub-architectures, entries whose
`includes` all hold and whose `excludes` do not.

bench/runtime uses it to give crun the same kind of filter lana-img loads."""
import json
import platform
import sys

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x", "ppc64le": "ppc64le"}
SCMP = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
        "ppc64le": "SCMP_ARCH_PPC64LE"}


def kernel_version():
    parts = platform.release().split("-")[0].split(".")
    return tuple(int(p) for p in parts[:2])


def applies(entry, arch, caps, kernel):
    inc = entry.get("includes") or {}
    exc = entry.get("excludes") or {}
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if inc.get("minKernel"):
        want = tuple(int(p) for p in inc["minKernel"].split(".")[:2])
        if kernel < want:
            return False
    return True


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: oci-seccomp.py PROFILE CAP...")
    with open(sys.argv[1], encoding="utf-8") as f:
        prof = json.load(f)
    caps = set(sys.argv[2:])
    machine = platform.machine()
    arch, native = GOARCH[machine], SCMP[machine]
    arches = [native]
    for m in prof.get("archMap") or []:
        if m.get("architecture") == native:
            arches += m.get("subArchitectures") or []
    out = {"defaultAction": prof["defaultAction"], "architectures": arches, "syscalls": []}
    if "defaultErrnoRet" in prof:
        out["defaultErrnoRet"] = prof["defaultErrnoRet"]
    kernel = kernel_version()
    for entry in prof.get("syscalls") or []:
        if not applies(entry, arch, caps, kernel):
            continue
        rule = {"names": entry["names"], "action": entry["action"]}
        if entry.get("args"):
            rule["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                            for a in entry["args"]]
        if "errnoRet" in entry:
            rule["errnoRet"] = entry["errnoRet"]
        out["syscalls"].append(rule)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
