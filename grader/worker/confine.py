"""Worker-side confinement, applied by the zygote before it imports torch (Linux only):
give up root for an unprivileged uid, forbid regaining privileges, and install a seccomp
filter that refuses new user namespaces (``unshare``/``clone`` with ``CLONE_NEWUSER``,
``clone3``) and ``ptrace``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

NOBODY = 65534
CLONE_NEWUSER = 0x10000000
EPERM, ENOSYS = 1, 38
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
# (AUDIT_ARCH, unshare, clone, clone3, ptrace)
ARCHES = {
    "x86_64": (0xC000003E, 272, 56, 435, 101),
    "aarch64": (0xC00000B7, 97, 220, 435, 117),
}


def drop_privileges(uid: int = NOBODY, gid: int = NOBODY) -> bool:
    """From root to ``uid``: every capability goes with it. No-op when not root."""
    if os.getuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    return os.getuid() == uid and _no_capabilities()


def _no_capabilities() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16) != 0:
                    return False
    except OSError:
        pass
    return True


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program() -> bytes | None:
    arch = ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit, nr_unshare, nr_clone, nr_clone3, nr_ptrace = arch
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    deny = SECCOMP_RET_ERRNO | EPERM
    prog = [
        _bpf(ld_w_abs, 0, 0, 4),                 # 0: A = arch
        _bpf(jeq_k, 1, 0, audit),                # 1: this arch? -> 3
        _bpf(ret_k, 0, 0, SECCOMP_RET_ALLOW),    # 2: another ABI: leave it
        _bpf(ld_w_abs, 0, 0, 0),                 # 3: A = syscall number
        _bpf(jeq_k, 4, 0, nr_unshare),           # 4: -> 9 (check flags)
        _bpf(jeq_k, 3, 0, nr_clone),             # 5: -> 9
        _bpf(jeq_k, 5, 0, nr_clone3),            # 6: -> 12 (ENOSYS: libc falls back to clone)
        _bpf(jeq_k, 3, 0, nr_ptrace),            # 7: -> 11 (EPERM)
        _bpf(ret_k, 0, 0, SECCOMP_RET_ALLOW),    # 8
        _bpf(ld_w_abs, 0, 0, 16),                # 9: A = low half of args[0] (flags)
        _bpf(jset_k, 0, 1, CLONE_NEWUSER),       # 10: NEWUSER? -> 11 else -> 12... (see below)
        _bpf(ret_k, 0, 0, deny),                 # 11
        _bpf(ret_k, 0, 0, SECCOMP_RET_ALLOW),    # 12
    ]
    # clone3 must return ENOSYS, not ALLOW: patch instruction 6 to jump to a dedicated return.
    prog[6] = _bpf(jeq_k, 6, 0, nr_clone3)       # 6: -> 13
    prog.append(_bpf(ret_k, 0, 0, SECCOMP_RET_ERRNO | ENOSYS))  # 13
    return b"".join(prog)


def install_seccomp() -> bool:
    prog = seccomp_program()
    if prog is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER


def confine() -> dict[str, bool]:
    """Everything above; returns what took effect (for the report)."""
    dropped = drop_privileges()
    return {"unprivileged": os.getuid() != 0 or dropped, "seccomp": install_seccomp()}
