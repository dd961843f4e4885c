"""A real redis-server on a free loopback port, for the shared store's tests.

It fails loudly when redis-server is missing: `scripts/system-deps` installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from linker.testing import free_port


def _wait_until_listening(
    port: int, process: subprocess.Popen[bytes], workdir: Path, what: str
) -> None:
    """Until the server accepts a connection on `port`; its log's tail if it never does."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                said = (workdir / "redis.log").read_text(errors="replace")[-300:]
                raise RuntimeError(f"{what} did not start: {said}") from None
            time.sleep(0.05)


@contextmanager
def redis_server(workdir: Path, *options: str, port: int | None = None) -> Iterator[str]:
    """A redis-server on a free port (or `port`: a server started again where it was) for the
    block's length; `options` are added to its command line (e.g. `--rename-command EVALSHA
    ""`)."""
    port = port or free_port()
    with _running(workdir, port, "redis-server", "--port", str(port), *options):
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def _running(
    workdir: Path, port: int, what: str, *options: str, config: Path | None = None
) -> Iterator[None]:
    """redis-server on loopback, persisting nothing unless `options` (which come last) say
    so, its log in `workdir`, until it listens on `port`; stopped on the way out. A `config`
    file is read first, as redis-server wants it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; run scripts/system-deps")
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    # Stopped at once: a primary would wait up to 10 s for lagging replicas to catch up.
    common += ["--shutdown-timeout", "0"]
    log = (workdir / "redis.log").open("wb")
    first = [str(config)] if config is not None else []
    command = [binary, *first, *common, *options]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(port, process, workdir, what)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for 127.0.0.1 (with its key): (ca, cert, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    later = now + datetime.timedelta(days=1)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("linker test CA"))
        .issuer_name(name("linker test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = workdir / "ca.pem", workdir / "redis.pem", workdir / "redis.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def redis_tls_server(workdir: Path, *, user: str, password: str) -> Iterator[tuple[str, Path]]:
    """A redis-server that speaks TLS only, with a certificate from a CA of its own and an ACL
    user that may touch `linker:*` keys alone (the default user is off), as managed Redis
    services run it. Yields the `rediss://user:password@...` URL and the CA's file."""
    ca, cert, key = _certificates(workdir)
    port = free_port()
    acl = workdir / "users.acl"
    acl.write_text(f"user default off\nuser {user} on >{password} ~linker:* +@all\n")
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert)]
    tls += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
    with _running(workdir, port, "redis-server (TLS)", *tls, "--aclfile", str(acl)):
        yield f"rediss://{user}:{password}@127.0.0.1:{port}/0", ca


@dataclass
class SentinelSet:
    """A primary, its replica and one Sentinel watching them as `name`, on loopback; over TLS
    only when `ca` is given (the CA that signed all three's certificate)."""

    url: str  # redis+sentinel://... (rediss+sentinel:// over TLS)
    name: str
    sentinel_port: int
    ca: Path | None = None

    def sentinel(self, *args: str) -> str:
        """A command to the Sentinel, by redis-cli; its answer."""
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed; run scripts/system-deps")
        tls = ["--tls", "--cacert", str(self.ca)] if self.ca is not None else []
        command = [cli, *tls, "-p", str(self.sentinel_port), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def primary_port(self) -> int:
        return int(self.sentinel("sentinel", "get-master-addr-by-name", self.name).split()[1])


@contextmanager
def redis_sentinel(
    workdir: Path, name: str = "linker", *, tls: bool = False
) -> Iterator[SentinelSet]:
    """A primary, a replica of it and a Sentinel that fails the primary over when asked
    (`SENTINEL FAILOVER`) or when it stops answering for a second; with `tls`, each speaks
    TLS only, replication and the Sentinel's own connections included."""
    primary, replica, watcher = free_port(), free_port(), free_port()
    for part in ("primary", "replica", "sentinel"):
        (workdir / part).mkdir()
    ca: Path | None = None
    secure: list[str] = []
    if tls:
        ca, cert, key = _certificates(workdir)
        secure = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
        secure += ["--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
        secure += ["--tls-replication", "yes"]

    def listen(port: int) -> list[str]:
        return ["--port", "0", "--tls-port", str(port)] if tls else ["--port", str(port)]

    config = workdir / "sentinel" / "sentinel.conf"
    config.write_text(  # the Sentinel rewrites its file as it learns: one of its own
        f"sentinel monitor {name} 127.0.0.1 {primary} 1\n"
        f"sentinel down-after-milliseconds {name} 1000\n"
        f"sentinel failover-timeout {name} 3000\n"
    )
    with (
        _running(workdir / "primary", primary, "redis-server", *listen(primary), *secure),
        _running(
            workdir / "replica",
            replica,
            "redis-server (replica)",
            *listen(replica),
            *secure,
            *("--replicaof", "127.0.0.1", str(primary)),
        ),
        _running(
            workdir / "sentinel",
            watcher,
            "redis-server --sentinel",
            *("--sentinel", *listen(watcher), *secure),
            config=config,
        ),
    ):
        scheme = "rediss+sentinel" if tls else "redis+sentinel"
        found = SentinelSet(f"{scheme}://127.0.0.1:{watcher}/{name}", name, watcher, ca)
        _wait_for_replica(found)
        yield found


def _wait_for_replica(found: SentinelSet) -> None:
    """Until the Sentinel knows the replica (a failover needs one to promote)."""
    deadline = time.monotonic() + 10
    while "127.0.0.1" not in found.sentinel("sentinel", "replicas", found.name):
        if time.monotonic() > deadline:
            raise RuntimeError("the Sentinel never saw the replica")
        time.sleep(0.1)
