"""Which OS user a job runs as (docs/architecture.md, record 12).

No Django here: the CLI reports the mode before Django is set up, the web process decides
from it who may change what runs, and the executor switches the child to the identity.

Jobs run apart from the server ("separated") when a job user is configured, exists, is neither
root nor the server's own user, and the server can switch users (root, or CAP_SETUID,
CAP_SETGID and CAP_KILL, e.g. as systemd ambient capabilities). Otherwise they run with the
server's own uid, and the fields that decide what runs are for admins only (jobs.services).
"""

from __future__ import annotations

import ctypes
import os
import pwd
from dataclasses import dataclass
from functools import lru_cache

CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
SWITCH_CAPABILITIES = (CAP_SETUID, CAP_SETGID, CAP_KILL)
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522


@dataclass(frozen=True)
class Identity:
    """An OS user as a job's process takes it on."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def label(self) -> str:
        return f"{self.name} (uid {self.uid})"


@dataclass(frozen=True)
class Isolation:
    """The mode in force: `identity` is the default job user when `separated`."""

    separated: bool
    identity: Identity | None
    reason: str

    def describe(self) -> str:
        if self.separated:
            return f"jobs run apart from the server, as {self.reason}"
        return (
            f"jobs run as the server's own user ({self.reason}): only admins may change "
            "what a job runs"
        )

    def as_dict(self) -> dict:
        return {
            "separated": self.separated,
            "jobUser": self.identity.name if self.identity else None,
            "detail": self.describe(),
        }


def identity_resolve(spec: str) -> Identity:
    """A user name or uid as an Identity (primary group and supplementary groups from the
    system's databases); LookupError when there is no such user."""
    text = str(spec).strip()
    try:
        entry = pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except (KeyError, OverflowError, ValueError):
        raise LookupError(f"there is no OS user {text!r}") from None
    groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    return Identity(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir or "/")


def _effective_capabilities() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def can_switch() -> bool:
    """May this process start children as another user and signal them?"""
    if os.geteuid() == 0:
        return True
    effective = _effective_capabilities()
    return all(effective >> bit & 1 for bit in SWITCH_CAPABILITIES)


def identity_refusal(identity: Identity) -> str | None:
    """Why a job may never run as this user: root, or the server's own user."""
    if identity.uid == 0:
        return f"{identity.name} is root"
    if identity.uid == os.geteuid():
        return f"{identity.name} is the server's own user"
    return None


@lru_cache(maxsize=8)
def isolation(job_user: str | None) -> Isolation:
    """The mode for a configured job user (None or "": none configured)."""
    if not job_user:
        return Isolation(False, None, "no job user is configured: TASKFLOW_JOB_USER")
    try:
        identity = identity_resolve(job_user)
    except LookupError as exc:
        return Isolation(False, None, f"job user: {exc}")
    refusal = identity_refusal(identity)
    if refusal:
        return Isolation(False, None, f"job user: {refusal}")
    if not can_switch():
        return Isolation(
            False,
            None,
            "the server cannot switch users: it needs root or CAP_SETUID, CAP_SETGID and CAP_KILL",
        )
    return Isolation(True, identity, identity.label())


def run_as_refusal(name: str, allowed: list[str]) -> str | None:
    """Why a job may not name `name` as its run-as user (None: it may)."""
    if name not in allowed:
        listed = ", ".join(allowed) or "none are configured: TASKFLOW_RUN_AS_USERS"
        return f"{name!r} is not an allowed run-as user ({listed})."
    try:
        identity = identity_resolve(name)
    except LookupError as exc:
        return f"{exc}."
    refusal = identity_refusal(identity)
    return f"Jobs never run as {name}: {refusal}." if refusal else None


def run_identity(run_as: str, *, conf) -> Identity | None:
    """Who a run's process runs as (conf: settings.TASKFLOW): its job's run-as user, else the
    job user when jobs run apart from the server, else None (the server's own uid: only admins
    changed what runs). LookupError (the run fails to start, never runs as the server) when a
    run-as user is no longer allowed or the server cannot switch to it."""
    if run_as:
        refusal = run_as_refusal(run_as, conf["RUN_AS_USERS"])
        if refusal:
            raise LookupError(f"run as {run_as}: {refusal}")
        if not can_switch():
            raise LookupError(f"run as {run_as}: the server cannot switch users")
        return identity_resolve(run_as)
    return isolation(conf["JOB_USER"]).identity


def job_user_error(job_user: str | None) -> str | None:
    """A configured job user that can never be one (no such user, root): a configuration
    error, so jobs never quietly run as the server instead."""
    if not job_user:
        return None
    try:
        identity = identity_resolve(job_user)
    except LookupError as exc:
        return str(exc)
    return f"{identity.name} is root" if identity.uid == 0 else None


# ---- in the child, between the uid switch and exec ----


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _PRCTL, _CAPSET = _LIBC.prctl, _LIBC.capset
except (OSError, AttributeError):  # not Linux: no capabilities to drop
    _PRCTL = _CAPSET = None
# built once in the parent: the forked child only makes two system calls
_NO_CAP_HEADER = _CapHeader(_CAPABILITY_VERSION_3, 0)
_NO_CAP_DATA = (_CapData * 2)()


def drop_capabilities() -> None:
    """A server holding capabilities as a non-root user keeps them across setuid(); its job
    must not inherit CAP_SETUID (it could become the server again). Clears the ambient set
    and every capability; raises (the run fails to start) when the kernel refuses."""
    if _PRCTL is None:
        return
    if _PRCTL(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot clear the ambient capabilities")
    if _CAPSET(ctypes.byref(_NO_CAP_HEADER), _NO_CAP_DATA) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop the capabilities")


def spawn_options(identity: Identity | None) -> dict:
    """subprocess.Popen keyword arguments that start the child as `identity` (none: as us)."""
    if identity is None:
        return {}
    options = {"user": identity.uid, "group": identity.gid, "extra_groups": list(identity.groups)}
    if os.geteuid() != 0:  # root's switch to another uid clears every capability itself
        options["preexec_fn"] = drop_capabilities
    return options
