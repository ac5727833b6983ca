"""The inet sockets of a set of processes, and the loopback rule: nothing bound to or connected with another host.

:func:`inet_sockets` lists every TCP and UDP socket (IPv4 and IPv6) of the given processes with psutil:
listening sockets, connected ones (with a remote address) and bound ones (a UDP socket without a peer).
:class:`SocketReport` judges them. A socket breaks the rule when its local address is not a loopback address
(``127.0.0.0/8``, ``::1``, or an IPv4-mapped loopback address) while it is bound to a port, or when its
remote address is not a loopback address. A report is *proven* only when at least one socket was checked
and every process that still ran could be read: a check of nothing proves nothing.

Linux lists a TCP socket that is bound but neither listening nor connected nowhere in ``/proc/net``, so it
cannot be seen; such a socket sends and receives nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` is a loopback address (an IPv4-mapped IPv6 address counts by its IPv4 part)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@dataclass(frozen=True)
class InetSocket:
    """One inet socket of a process.

    Attributes:
        pid: The process holding it.
        protocol: ``tcp`` or ``udp``.
        local_ip: Local address (``0.0.0.0`` or ``::`` when bound to every interface).
        local_port: Local port (0 when not bound).
        remote_ip: Remote address, ``None`` when not connected.
        remote_port: Remote port, ``None`` when not connected.
        status: TCP state (``LISTEN``, ``ESTABLISHED``...), ``NONE`` for UDP.
    """

    pid: int
    protocol: Literal["tcp", "udp"]
    local_ip: str
    local_port: int
    remote_ip: str | None
    remote_port: int | None
    status: str

    @property
    def listening(self) -> bool:
        """A TCP socket in state ``LISTEN``."""
        return self.status == psutil.CONN_LISTEN

    @property
    def connected(self) -> bool:
        """The socket has a remote address."""
        return self.remote_ip is not None

    def problem(self) -> str | None:
        """Why the socket breaks the loopback rule, or ``None`` when it keeps it."""
        if self.local_port and not is_loopback(self.local_ip):
            return f"bound to {self.local_ip}:{self.local_port}"
        if self.remote_ip is not None and not is_loopback(self.remote_ip):
            return f"connected with {self.remote_ip}:{self.remote_port}"
        return None

    def describe(self) -> str:
        """``pid 12 tcp 127.0.0.1:80 -> 127.0.0.1:5000 (ESTABLISHED)``."""
        remote = f" -> {self.remote_ip}:{self.remote_port}" if self.connected else ""
        return f"pid {self.pid} {self.protocol} {self.local_ip}:{self.local_port}{remote} ({self.status})"


@dataclass
class SocketReport:
    """The inet sockets of a set of processes, judged by the loopback rule.

    Attributes:
        processes: Processes whose sockets were read.
        gone: Processes that ended before their sockets could be read.
        unreadable: Processes that run but whose sockets could not be read (``pid N: reason``).
        sockets: Every socket read.
    """

    processes: int = 0
    gone: int = 0
    unreadable: list[str] = field(default_factory=list)
    sockets: list[InetSocket] = field(default_factory=list)

    @property
    def listening(self) -> int:
        """Listening sockets."""
        return sum(s.listening for s in self.sockets)

    @property
    def connected(self) -> int:
        """Connected sockets (with a remote address)."""
        return sum(s.connected for s in self.sockets)

    @property
    def checked(self) -> int:
        """Sockets checked: listening, connected and merely bound ones."""
        return len(self.sockets)

    @property
    def outside(self) -> list[InetSocket]:
        """Sockets bound to or connected with a non-loopback address."""
        return [s for s in self.sockets if s.problem() is not None]

    @property
    def proven(self) -> bool:
        """At least one socket was checked and every running process could be read."""
        return self.checked > 0 and not self.unreadable

    def failure(self) -> str | None:
        """The failure message when the rule is broken or nothing was proven; ``None`` when it holds."""
        if self.outside:
            detail = "; ".join(f"{s.describe()}: {s.problem()}" for s in self.outside)
            return (
                f"Expected every socket of the tree to use loopback only; {len(self.outside)} of {self.checked} "
                f"did not: {detail}."
            )
        if self.unreadable:
            return (
                f"Expected to read the sockets of every process of the tree; could not for "
                f"{'; '.join(self.unreadable)}, so the loopback rule is not proven."
            )
        if not self.checked:
            return (
                f"Expected at least one socket to check; {self.processes} process(es) had none "
                f"({self.gone} ended before they were read), so the loopback rule is not proven."
            )
        return None

    def figures(self) -> dict[str, Any]:
        """``outsideLoopback`` (the verdict: sockets that break the rule), ``checkedSockets``,
        ``listeningSockets``, ``connectedSockets`` and ``processes`` (whose sockets were read)."""
        return {
            "outsideLoopback": len(self.outside),
            "checkedSockets": self.checked,
            "listeningSockets": self.listening,
            "connectedSockets": self.connected,
            "processes": self.processes,
        }

    def line(self) -> str:
        """One line: what was checked and the verdict."""
        if self.outside:
            verdict = f"{len(self.outside)} outside loopback"
        else:
            verdict = "all on loopback" if self.proven else "nothing proven"
        return (
            f"{self.checked} socket(s) of {self.processes} process(es): {self.listening} listening, "
            f"{self.connected} connected; {verdict}"
        )


def _socket_of(pid: int, conn: Any) -> InetSocket:
    local = conn.laddr or ("", 0)
    remote = conn.raddr or None
    return InetSocket(
        pid=pid,
        protocol="udp" if conn.type == socket.SOCK_DGRAM else "tcp",
        local_ip=local[0],
        local_port=local[1],
        remote_ip=remote[0] if remote else None,
        remote_port=remote[1] if remote else None,
        status=conn.status,
    )


def inet_sockets(pids: Iterable[int]) -> SocketReport:
    """Every inet socket (TCP and UDP, IPv4 and IPv6) of the processes ``pids``, as a report."""
    report = SocketReport()
    for pid in sorted(set(pids)):
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            report.gone += 1
            continue
        except (psutil.Error, OSError) as exc:
            report.unreadable.append(f"pid {pid}: {type(exc).__name__}")
            continue
        report.processes += 1
        report.sockets.extend(_socket_of(pid, conn) for conn in conns)
    return report
