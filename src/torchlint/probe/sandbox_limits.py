"""Confinement of one sandbox child: what it may touch, for how long, with how much.

Runs inside the child process (standard library only; never imports torchlint).
Each protection is applied independently and reported by name, so the
assumptions of every verdict say which ones were really in force:

- ``network``: a fresh network namespace (``unshare``; no interfaces at all),
  else Landlock's TCP rules, else Python-level blocking of socket calls.
- ``filesystem``: Landlock (Linux 5.13+) allows writes only beneath the
  child's temporary folder and no reading of other processes' files in
  ``/proc`` (their environment holds the user's secrets); an audit hook gives
  the same rules a clear Python error (and is the only protection where
  Landlock is missing).
- ``capabilities``: a child running as root drops every capability but
  reading files, so it cannot read other processes' memory, mount, or load
  kernel modules.
- ``limits``: address space, CPU seconds, file size and process count.
- ``processes``: the audit hook refuses starting and signalling processes;
  the native routes Python offers around it (``_posixsubprocess.fork_exec``,
  which ``multiprocessing`` uses, and libc's ``fork``/``exec``/``kill`` through
  ctypes) are refused too.

An action the sandbox refuses raises :class:`SandboxDenied`; the lab turns it
into the verdict ``inconclusive`` with reason ``sandbox_denied``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


class SandboxDenied(PermissionError):
    """An action the probe's sandbox does not allow (network, writes outside
    its temporary folder, starting processes)."""


@dataclass(frozen=True)
class Budget:
    """What one child may use."""

    memory_mb: int  # address space
    cpu_seconds: int
    file_size_mb: int = 256
    extra_processes: int = 64  # threads and processes above what the user already runs


@dataclass
class Protections:
    """Which protections were in force: recorded in every verdict's assumptions."""

    start: str = "fork"
    network: str = "none"
    filesystem: str = "none"
    limits: dict[str, Any] = field(default_factory=dict)
    environment: str = "scrubbed"
    capabilities: str = "none held"

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "network": self.network, "filesystem": self.filesystem,
                "limits": dict(self.limits), "environment": self.environment,
                "capabilities": self.capabilities}


# -- environment ----------------------------------------------------------------

_KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT", "LD_LIBRARY_PATH",
                   "DYLD_LIBRARY_PATH", "PYTHONHOME")


def scrubbed_environment(workdir: str, base: dict[str, str]) -> dict[str, str]:
    """The environment of sandbox processes: no credentials, tokens or proxies
    of the user's shell, no GPU, temporary files in `workdir`."""
    env = {key: base[key] for key in _KEPT_VARIABLES if key in base}
    env.update({
        "HOME": workdir, "TMPDIR": workdir, "TEMP": workdir, "TMP": workdir,
        "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TORCHLINT_PROBE_SANDBOX": "1",
    })
    return env


def replace_environment(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


# -- Linux: namespaces and Landlock through libc ----------------------------------

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
# Landlock's system calls have the same numbers on every Linux architecture.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent ends, so no sandbox
    process outlives the probe even if the probe itself is killed."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as handle:
            handle.write(text)
        return True
    except OSError:
        return False


def isolate_network() -> str | None:
    """Move this process into a new network namespace (only a loopback that is
    down). Returns the protection's name, or None when the kernel refuses."""
    libc = _libc()
    if libc is None:
        return None
    if libc.unshare(_CLONE_NEWNET) == 0:
        return "network namespace"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        # Map our own ids so files keep their owners inside the namespace.
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        return "user and network namespace"
    return None


def _readable_roots() -> list[str]:
    """Where the child may read files: everything except the folders of other
    processes in ``/proc`` (their ``environ`` holds the user's tokens and
    credentials, and ``mem`` their memory). Landlock only allows, so the
    allowed places are listed: each entry of ``/`` but ``/proc``, each entry of
    ``/proc`` that is not a process, and this process's own folder."""
    roots = [os.path.join("/", entry) for entry in sorted(os.listdir("/")) if entry != "proc"]
    try:
        roots += [f"/proc/{entry}" for entry in sorted(os.listdir("/proc"))
                  if not entry.isdigit() and entry not in ("self", "thread-self")]
    except OSError:
        pass
    roots.append(f"/proc/{os.getpid()}")
    return roots


def _allow(libc: Any, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        rule = _PathBeneathAttr(rights, fd)
        libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                     ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


def landlock(writable: str, deny_tcp: bool) -> str | None:
    """Allow writes only beneath `writable` (and to /dev/null) and reads
    everywhere but in other processes' ``/proc`` folders; with `deny_tcp` also
    refuse TCP connections where the kernel supports it. Returns the
    protection's name, or None without Landlock."""
    libc = _libc()
    if libc is None:
        return None
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 1:
        return None
    handled = _FS_WRITE_FILE | _FS_READ_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if deny_tcp and abi >= 4 else 0
    attr = _RulesetAttr(handled, net)
    size = ctypes.sizeof(attr) if net else ctypes.sizeof(ctypes.c_uint64)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                           ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return None
    try:
        for root in _readable_roots():
            _allow(libc, ruleset, root, _FS_READ_FILE)
        _allow(libc, ruleset, writable, handled)
        _allow(libc, ruleset, "/dev/null",
               _FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return None
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return None
    finally:
        os.close(ruleset)
    name = f"landlock ABI {abi}: writes only beneath the sandbox folder, no reading other processes"
    return name + (", no TCP" if net else "")


# -- capabilities (a child running as root) ----------------------------------------------

_PR_CAPBSET_DROP = 24
_CAPABILITY_VERSION_3 = 0x20080522
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2
_CAP_LAST = 63
#: Reading the user's data files as before; nothing else (no ptrace, mount, modules, raw I/O...).
_KEPT_CAPABILITIES = (1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> str:
    """Linux: drop every capability but reading files, from the bounding set
    too (programs started later cannot regain them). Without CAP_SYS_PTRACE
    the child cannot read the memory or environment of the linter, which is
    not dumpable (:func:`hide_from_sandbox`). Returns what was done."""
    libc = _libc()
    if libc is None:
        return "none held"
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return "unknown"
    held = data[0].permitted | (data[1].permitted << 32)
    if not held & ~_KEPT_CAPABILITIES:
        return "none held"
    for capability in range(_CAP_LAST + 1):
        if not (_KEPT_CAPABILITIES >> capability) & 1:
            libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # fails past the kernel's last: fine
    for index in range(2):
        keep = (_KEPT_CAPABILITIES >> (32 * index)) & 0xFFFFFFFF
        data[index].effective &= keep
        data[index].permitted &= keep
        data[index].inheritable &= keep
    if libc.capset(ctypes.byref(header), data) != 0:
        return "kept (capset failed)"
    return "dropped all but reading files"


def hide_from_sandbox() -> None:
    """Linux, in the linter's own process: not dumpable, so that a sandbox child
    (same user, no CAP_SYS_PTRACE) can read neither its environment (the
    user's tokens) nor its memory through /proc or ptrace. Left so for the
    rest of the process: no core dump of torchlint after a probe."""
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


# -- resource limits ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def threads_of_user() -> int:
    """Threads the real user runs (counted once): RLIMIT_NPROC counts them all."""
    uid = os.getuid()
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                status = handle.read()
        except OSError:
            continue
        owner = threads = None
        for line in status.splitlines():
            if line.startswith("Uid:"):
                owner = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        if owner == uid and threads:
            count += threads
    return count


def _set(limit: int, soft: int, hard: int | None = None) -> bool:
    assert resource is not None
    try:
        _, current_hard = resource.getrlimit(limit)
        hard = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(limit, (soft, hard))
        return True
    except (ValueError, OSError):
        return False


def _address_space_mb() -> int:
    """The address space this process maps now (Linux's VmSize), in MB; 0 elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def apply_limits(budget: Budget) -> dict[str, Any]:
    """Set the resource limits; returns those in force."""
    if resource is None:
        return {}
    applied: dict[str, Any] = {}
    # The budget is what the script may map beyond the interpreter and torch: a CUDA
    # build of torch maps about 3 GB of libraries on import even with no GPU in use
    # (a CPU build about 0.5 GB), and a flat limit left such users almost nothing.
    base_mb = _address_space_mb()
    if _set(resource.RLIMIT_AS, (base_mb + budget.memory_mb) * 2**20):
        applied["address_space_mb"] = budget.memory_mb  # on top of what is mapped (machine-dependent)
    if _set(resource.RLIMIT_CPU, budget.cpu_seconds, budget.cpu_seconds + 5):
        applied["cpu_seconds"] = budget.cpu_seconds
    # A write past the limit then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if _set(resource.RLIMIT_FSIZE, budget.file_size_mb * 2**20):
        applied["file_size_mb"] = budget.file_size_mb
    if sys.platform.startswith("linux"):
        nproc = threads_of_user() + budget.extra_processes
        if _set(resource.RLIMIT_NPROC, nproc):
            applied["processes_above_current"] = budget.extra_processes
    _set(resource.RLIMIT_CORE, 0)
    return applied


# -- the audit hook: the same rules, as clear Python errors -------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
    "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.link": (0, 1),
    "os.symlink": (1,), "os.utime": (0,), "shutil.rmtree": (0,), "shutil.copyfile": (1,),
    "shutil.move": (1,), "os.mkfifo": (0,), "os.mknod": (0,),
}
_NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request",
    "ftplib.connect", "http.client.connect", "smtplib.connect", "telnetlib.Telnet.open",
})
_PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "os.startfile", "os.kill", "os.killpg", "_winapi.CreateProcess",
})
#: libc functions that ctypes must not reach: they would do what the hook
#: refuses (start or signal processes, connect, write files, leave the sandbox)
#: without an audit event. ``syscall`` and ``dlsym`` reach all of them.
_NATIVE_DENIED = frozenset({
    "fork", "vfork", "_Fork", "clone", "clone3", "__clone", "execve", "execveat", "fexecve",
    "execv", "execvp", "execvpe", "execl", "execlp", "execle", "system", "popen", "posix_spawn",
    "posix_spawnp", "daemon", "kill", "killpg", "tgkill", "tkill", "sigqueue", "pidfd_open",
    "pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev", "prctl", "setsid",
    "setpgid", "unshare", "setns", "mount", "umount", "umount2", "chroot", "pivot_root",
    "socket", "connect", "bind", "sendto", "sendmsg", "getaddrinfo", "gethostbyname",
    "open", "open64", "openat", "openat64", "creat", "creat64", "fopen", "fopen64", "freopen",
    "rename", "renameat", "renameat2", "unlink", "unlinkat", "remove", "rmdir", "mkdir",
    "mkdirat", "truncate", "truncate64", "symlink", "symlinkat", "link", "linkat", "chmod",
    "fchmodat", "chown", "lchown", "fchownat", "syscall", "dlopen", "dlmopen", "dlsym", "dlvsym",
})
_PROC_PROCESS_FOLDER = re.compile(r"^/proc/(\d+)(/|$)")


class AuditGuard:
    """A ``sys.addaudithook`` hook refusing network access, new processes,
    writes outside the sandbox folder and reading other processes' ``/proc``
    files. Audit hooks cannot be removed: it is installed only in the child,
    after the probe's own files are open."""

    def __init__(self, writable: str) -> None:
        self.writable = os.path.realpath(writable)
        self.pid = os.getpid()

    def _full(self, path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            text = os.fsdecode(path)
        except TypeError:
            return None
        if text in ("/dev/null", "nul", "NUL"):
            return None
        return os.path.realpath(os.path.abspath(text))

    def _outside(self, path: Any) -> str | None:
        full = self._full(path)
        if full is None or full == self.writable or full.startswith(self.writable + os.sep):
            return None
        return full

    def _other_process(self, path: Any) -> str | None:
        """``/proc/PID/...`` of another process (``/proc/self`` resolves to ours)."""
        full = self._full(path)
        match = _PROC_PROCESS_FOLDER.match(full or "")
        return full if match and int(match.group(1)) != self.pid else None

    def _open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        other = self._other_process(path)
        if other:
            raise SandboxDenied(f"the probe's sandbox refused to read {other}: other processes' "
                                "environment and memory are not readable")
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        low_level = mode is None and isinstance(flags, int)  # os.open: its fd may be a dir_fd
        outside = self._outside(path) if writing or low_level else None
        if not outside:
            return
        if writing:
            raise SandboxDenied(f"the probe's sandbox refused to write {outside}: "
                                "only its temporary folder is writable")
        if os.path.isdir(outside):
            raise SandboxDenied(f"the probe's sandbox refused to open the folder {outside}: "
                                "writes relative to it (dir_fd) would escape the sandbox")

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._open(args)
        elif event in _PATH_EVENTS:
            for index in _PATH_EVENTS[event]:
                if index < len(args):
                    outside = self._outside(args[index])
                    if outside:
                        raise SandboxDenied(f"the probe's sandbox refused {event} on {outside}")
        elif event in _NETWORK_EVENTS:
            raise SandboxDenied(f"the probe's sandbox has no network ({event})")
        elif event in _PROCESS_EVENTS:
            raise SandboxDenied(f"the probe's sandbox does not start or signal processes ({event})")
        elif event == "ctypes.dlsym" and len(args) > 1 and args[1] in _NATIVE_DENIED:
            raise SandboxDenied(f"the probe's sandbox refused ctypes access to {args[1]}: native "
                                "calls that start or signal processes, connect, or change files "
                                "are not allowed")


def block_native_process_starts() -> None:
    """``_posixsubprocess.fork_exec`` starts a process without an audit event
    (``multiprocessing``'s spawn and forkserver call it directly): refuse it."""
    try:
        import _posixsubprocess
    except ImportError:  # Windows: _winapi.CreateProcess raises an audit event
        return

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise SandboxDenied("the probe's sandbox does not start or signal processes "
                            "(_posixsubprocess.fork_exec)")

    _posixsubprocess.fork_exec = refused  # type: ignore[attr-defined]


def audit_native_file_access(torch: Any) -> None:
    """torch opens some files in C++, unseen by the audit hook: ``torch.save``
    (PyTorchFileWriter) and ``torch.from_file``. Raise the audit event Python's
    ``open`` would, so they get the hook's rules and its clear error (Landlock,
    where present, refuses them anyway)."""
    def opened(path: Any, mode: str) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            sys.audit("open", path, mode, None)

    writer = getattr(getattr(torch, "_C", None), "PyTorchFileWriter", None)
    if writer is not None:
        def file_writer(target: Any, *args: Any, **kwargs: Any) -> Any:
            opened(target, "wb")
            return writer(target, *args, **kwargs)

        torch._C.PyTorchFileWriter = file_writer
    for owner in (torch, getattr(torch, "UntypedStorage", None)):
        original = getattr(owner, "from_file", None)
        if original is None:
            continue

        def from_file(filename: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            shared = kwargs.get("shared", args[0] if args else False)
            opened(filename, "r+b" if shared else "rb")
            return _original(filename, *args, **kwargs)

        setattr(owner, "from_file", staticmethod(from_file) if isinstance(owner, type) else from_file)


def confine(workdir: str, budget: Budget, start: str) -> Protections:
    """Apply every protection this platform allows, strongest first. The audit
    hook is always installed (SECURITY.md); the names say what backs it."""
    protections = Protections(start=start)
    network = isolate_network()
    protections.limits = apply_limits(budget)
    filesystem = landlock(workdir, deny_tcp=network is None)
    protections.capabilities = drop_capabilities()
    block_native_process_starts()
    sys.addaudithook(AuditGuard(workdir))
    protections.filesystem = "landlock" if filesystem else "python audit hook only"
    if network:
        protections.network = network
    elif filesystem and "no TCP" in filesystem:
        protections.network = "landlock: no TCP"
    else:
        protections.network = "python audit hook only"
    return protections
