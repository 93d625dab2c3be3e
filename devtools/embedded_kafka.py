"""A real, embedded, single-node Apache Kafka broker (KRaft mode) for RepWatch.

Why this exists: ``make run`` and the integration tests need a Kafka broker, and
asking every developer (and CI) to install and babysit one is the usual source of
"works on my machine". Instead the project runs the genuine Apache Kafka broker
itself: the jars come from Maven Central (``deploy/kafka/pom.xml``, fetched once
into a user cache outside the repository), and this module starts ``kafka.Kafka``
in its own JVM, configured for one node acting as both broker and KRaft
controller. No mocks, no fakes: clients talk the real protocol to the real broker.

Two ways to use it:

* In-process owner (tests, ``make run``)::

      with EmbeddedKafka(data_dir) as broker:
          producer = KafkaProducer(bootstrap_servers=broker.bootstrap)

  The JVM is tied to the Python process: it is stopped by :meth:`EmbeddedKafka.stop`,
  the context manager, ``atexit``, and (Linux) by the kernel via
  ``PR_SET_PDEATHSIG`` even when Python is SIGKILLed, so no orphan JVMs are left.

* Detached (``repwatch broker start|stop|status``): :func:`broker_start` leaves a
  broker running after the command exits; :func:`broker_stop` /
  :func:`broker_status` find it again through a pid file in its data dir.

A data dir holds everything of one broker: ``server.properties`` (regenerated on
every start), the Kafka log dirs (``logs/``, formatted once and then kept, so
topics, records and committed offsets survive restarts), the broker log, the pid
file, and ``repwatch-broker.json`` with the ports, which are reused on restart so
clients keep a valid bootstrap address.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.procs import die_with_parent_preexec, free_ports, pid_alive, port_is_free, terminate_pid

__all__ = [
    "KAFKA_VERSION",
    "BrokerAlreadyRunningError",
    "BrokerStartError",
    "EmbeddedKafka",
    "KafkaBrokerError",
    "KafkaJarsError",
    "PortInUseError",
    "broker_start",
    "broker_status",
    "broker_stop",
    "cli",
    "default_broker_data_dir",
    "default_kafka_cache_dir",
    "ensure_kafka_jars",
]

#: Kafka release the project runs. Keep in sync with kafka.version in deploy/kafka/pom.xml.
KAFKA_VERSION = "4.4.0"

# devtools/embedded_kafka.py -> repository root. Resolved from this file rather than the
# CWD so the broker can be started from any directory (tests, make, an installed CLI).
_REPO_ROOT = Path(__file__).resolve().parents[1]
POM_PATH = _REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2_CONFIG = _REPO_ROOT / "deploy" / "kafka" / "log4j2.yaml"

STATE_FILE_NAME = "repwatch-broker.json"
PID_FILE_NAME = "broker.pid"
PROPERTIES_FILE_NAME = "server.properties"
LOG_FILE_NAME = "broker.log"
STDOUT_FILE_NAME = "broker.stdout.log"
KAFKA_LOG_DIR_NAME = "logs"
_JARS_MARKER_NAME = "jars.complete"
_START_LOCK_NAME = ".repwatch-broker.lock"

_LOOPBACK = "127.0.0.1"
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")


class KafkaBrokerError(RuntimeError):
    """Base class for every error this module raises about the embedded broker."""


class KafkaJarsError(KafkaBrokerError):
    """The Kafka jars could not be fetched (Maven missing, offline, resolution failed)."""


class BrokerStartError(KafkaBrokerError):
    """The broker did not come up; the message carries the tail of the broker log."""


class PortInUseError(BrokerStartError):
    """A port the broker must use (persisted or requested) is taken by another process."""


class BrokerAlreadyRunningError(BrokerStartError):
    """A broker started by someone else is already running on this data dir."""

    def __init__(self, message: str, *, pid: int, bootstrap: str | None) -> None:
        super().__init__(message)
        self.pid = pid
        self.bootstrap = bootstrap


# --------------------------------------------------------------------------- paths


def _xdg_dir(env_name: str, fallback: Path) -> Path:
    value = os.environ.get(env_name)
    return Path(value).expanduser() if value else fallback


def default_kafka_cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of ``version`` live: ``$REPWATCH_KAFKA_CACHE`` or ``~/.cache/repwatch/kafka/<version>``.

    Outside the repository on purpose: ~45 MB of jars must not end up in git, should
    survive ``git clean``, and can be shared by every checkout/worktree of the project.
    ``REPWATCH_KAFKA_CACHE`` names the directory itself (``libs/`` goes inside it).
    """
    env = os.environ.get("REPWATCH_KAFKA_CACHE")
    if env:
        return Path(env).expanduser()
    return _xdg_dir("XDG_CACHE_HOME", Path.home() / ".cache") / "repwatch" / "kafka" / version


def default_broker_data_dir() -> Path:
    """Data dir of the detached CLI broker.

    ``$REPWATCH_BROKER_DATA_DIR``, else ``~/.local/share/repwatch/broker``.

    Under the user's data dir (not the repo, not /tmp) so topics survive reboots and
    ``git clean`` and every checkout talks to the same long-lived dev broker.
    """
    env = os.environ.get("REPWATCH_BROKER_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return _xdg_dir("XDG_DATA_HOME", Path.home() / ".local" / "share") / "repwatch" / "broker"


# ------------------------------------------------------------------------ small io


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so concurrent processes (pytest-xdist, two terminals) serialize."""
    import fcntl  # POSIX only; imported here so the module still imports elsewhere.

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file + rename so a crash never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a (possibly large) log file, for error messages."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# ---------------------------------------------------------------------------- jars


def _jars_stamp(version: str) -> str:
    """Content of the completion marker: the version plus a hash of the pom.

    Hashing the pom means editing it (e.g. bumping log4j) refetches instead of silently
    running with the jars of the previous pom.
    """
    pom_hash = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    return json.dumps({"kafka_version": version, "pom_sha256": pom_hash}, sort_keys=True)


def _jars_ready(cache: Path, stamp: str) -> bool:
    try:
        return (cache / _JARS_MARKER_NAME).read_text(encoding="utf-8") == stamp and (cache / "libs").is_dir()
    except OSError:
        return False


def ensure_kafka_jars(
    version: str = KAFKA_VERSION, cache_dir: Path | None = None, log: Callable[[str], Any] = print
) -> Path:
    """Return the directory holding the broker's runtime jars, fetching them with Maven the first time.

    Runs ``mvn dependency:copy-dependencies`` on ``deploy/kafka/pom.xml`` into a temp
    dir inside the cache and renames it to ``libs`` only after Maven succeeded, then
    writes a completion marker. With the marker present Maven is not run at all (no
    network on later runs); an interrupted or failed download leaves no marker and is
    simply redone. A file lock makes concurrent callers wait for one download.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_kafka_cache_dir(version)
    libs = cache / "libs"
    if not POM_PATH.is_file():
        raise KafkaJarsError(f"Kafka jar manifest {POM_PATH} is missing")
    stamp = _jars_stamp(version)
    if _jars_ready(cache, stamp):
        return libs

    with _file_lock(cache / ".lock"):
        if _jars_ready(cache, stamp):  # another process finished the download while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaJarsError(
                "Maven ('mvn') is needed once to fetch the Kafka broker jars but is not on PATH. "
                "Install it (Debian/Ubuntu: apt-get install maven; macOS: brew install maven) and retry."
            )
        log(f"fetching Kafka {version} jars with Maven into {libs}, first time only ...")
        (cache / _JARS_MARKER_NAME).unlink(missing_ok=True)
        for stale in cache.glob("libs.tmp-*"):  # leftovers of an interrupted download
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix="libs.tmp-", dir=cache))
        started = time.monotonic()
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM_PATH),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            # User properties beat pom properties, so the pom serves any Kafka version.
            f"-Dkafka.version={version}",
        ]
        try:
            result = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not (tmp / f"kafka_2.13-{version}.jar").is_file():
                output = "\n".join(result.stdout.strip().splitlines()[-30:])
                raise KafkaJarsError(
                    f"Maven could not fetch the Kafka {version} jars (exit code {result.returncode}); "
                    f"is Maven Central reachable?\ncommand: {' '.join(cmd)}\n{output}"
                )
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the jars are nothing secret
            if libs.exists():
                shutil.rmtree(libs)
            os.replace(tmp, libs)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_text_atomic(cache / _JARS_MARKER_NAME, stamp)
        jars = list(libs.glob("*.jar"))
        size_mb = sum(j.stat().st_size for j in jars) / 1e6
        elapsed = time.monotonic() - started
        log(f"Kafka {version} jars ready: {len(jars)} jars, {size_mb:.0f} MB, {elapsed:.0f}s")
    return libs


# ----------------------------------------------------------------------- processes


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerStartError(
            "Java is needed to run the Kafka broker but 'java' is not on PATH and JAVA_HOME is unset. "
            "Kafka 4.x needs Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
        )
    return java


def _pid_is_our_broker(pid: int, properties_file: Path) -> bool:
    """True if ``pid`` is a live ``kafka.Kafka`` JVM started on this data dir.

    Checking the command line guards against pid reuse: a stale pid file must never
    make us report (or SIGTERM) some unrelated process.
    """
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no procfs: trust the pid file
    return b"kafka.Kafka" in argv and os.fsencode(str(properties_file)) in argv


# ----------------------------------------------------------------------- ports / ids


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, base64url without padding (22 chars).

    Same format as ``kafka-storage random-uuid`` but without paying for a JVM start.
    Like Kafka, avoid a leading '-' (it would be parsed as a command-line flag).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):
            return cid


def _kafka_answers(port: int, timeout: float = 2.0) -> bool:
    """True once the broker *processes* requests (raw ApiVersions v0 round trip).

    Kafka binds its listener socket early in startup, so a TCP connect alone proves
    little. This stdlib probe waits for a real response without creating kafka-python
    clients in a loop (a KafkaAdminClient whose bootstrap fails leaks its IO thread).
    """
    client_id = b"repwatch-probe"
    correlation_id = 7
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id  # ApiVersions=18, v0
    try:
        with socket.create_connection((_LOOPBACK, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = b""
            while len(header) < 8:
                chunk = sock.recv(8 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    _size, got_correlation = struct.unpack(">ii", header)
    return got_correlation == correlation_id


# ------------------------------------------------------------------- server config


def _server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """The broker's server.properties. Every setting says why it is set."""
    log_dirs = data_dir / KAFKA_LOG_DIR_NAME
    return f"""\
# Generated by devtools/embedded_kafka.py on every start; edits here are overwritten.
# Single-node KRaft broker for RepWatch development and tests.

# One JVM is both broker and KRaft controller: a single process to start and stop,
# no ZooKeeper (removed in Kafka 4.x), nothing else to install.
process.roles=broker,controller
# The only node of this cluster; also its id in the controller quorum.
node.id=1
# Dynamic KRaft quorum (KIP-853): the storage is formatted with --standalone, which
# requires this setting instead of a static controller.quorum.voters list.
controller.quorum.bootstrap.servers={_LOOPBACK}:{controller_port}

# Loopback only: a dev/test broker without authentication must not be reachable from
# the network. Ports are picked once per data dir and persisted (repwatch-broker.json).
listeners=PLAINTEXT://{_LOOPBACK}:{port},CONTROLLER://{_LOOPBACK}:{controller_port}
# What clients are told to connect to after bootstrap; must be the same loopback
# address, or clients would bootstrap and then fail to reach the partition leader.
# The CONTROLLER entry is what the dynamic quorum records as this voter's endpoint.
advertised.listeners=PLAINTEXT://{_LOOPBACK}:{port},CONTROLLER://{_LOOPBACK}:{controller_port}
# No TLS/SASL on loopback; both listeners speak plaintext.
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
# Replication traffic (none with one node, but the setting is required) uses PLAINTEXT.
inter.broker.listener.name=PLAINTEXT
# Which listener is the KRaft controller's.
controller.listener.names=CONTROLLER

# Topic data and the __cluster_metadata log live in the data dir, so they survive
# restarts: topics, records and committed offsets are kept.
log.dirs={log_dirs}

# Topics are created explicitly by the application with the partition counts it wants;
# a typo'd topic name must fail loudly instead of silently creating a new topic.
auto.create.topics.enable=false
# Default for topics created without an explicit count: 6 lets a consumer group scale
# to 6 members, while staying cheap on a laptop.
num.partitions=6
# There is exactly one broker, so any replication factor above 1 cannot be satisfied.
default.replication.factor=1
# acks=all means "all in-sync replicas"; with a single replica that is the leader itself.
min.insync.replicas=1

# Internal topics default to replication factor 3 and would never be created here.
offsets.topic.replication.factor=1
# __consumer_offsets is created on the first consumer-group request; 6 partitions
# instead of 50 makes that first group join (and every broker start, which loads
# them) several seconds faster.
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Same reasoning as offsets.topic.num.partitions, for the first transactional producer.
transaction.state.log.num.partitions=6
# Share groups (KIP-932) store state in an internal topic that also defaults to RF 3.
# It is only created if someone uses a share group, so this costs nothing at startup.
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=3

# Classic-protocol consumers (kafka-python) otherwise wait 3 s after the first member
# joins, hoping for more members: pure latency for tests and a one-process dev setup.
group.initial.rebalance.delay.ms=0
# Default floor is 6000 ms. Lowering it lets tests use short session timeouts so a dead
# consumer's partitions are reassigned quickly; session_timeout_ms=6000 and up (the
# kafka-python default is 45000) is accepted either way.
group.min.session.timeout.ms=1000

# The default 3 network + 8 I/O threads are sized for servers; this broker shares a
# small machine with the Python services, and one client-heavy process saturates it
# long before thread counts matter.
num.network.threads=2
num.io.threads=4

# Not set on purpose (Kafka defaults are right here): message.max.bytes (~1 MB),
# log.flush.* (rely on the OS page cache: acked records survive a broker crash or
# SIGKILL, only a kernel crash could lose the last seconds), log.retention.hours (7 days).
"""


# -------------------------------------------------------------------------- broker


class EmbeddedKafka:
    """One real single-node Kafka 4.x broker (KRaft) whose JVM this object owns.

    The broker's whole state lives in ``data_dir``; starting again on the same
    directory reuses ports, topics, records and committed offsets. Use it as a context
    manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        cache_dir: Path | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        die_with_parent: bool = True,
        log_file: Path | None = None,
    ) -> None:
        """Describe a broker; nothing is started until :meth:`start`.

        Args:
            data_dir: Directory with all broker state (created if missing).
            cache_dir: Jar cache, see :func:`ensure_kafka_jars`.
            port: Client (PLAINTEXT) port; default: the persisted one, else a free one.
            controller_port: KRaft controller port; same defaulting as ``port``.
            heap: JVM heap size (``-Xms``/``-Xmx``), e.g. ``"512m"`` or ``"1g"``.
            die_with_parent: Tie the JVM's life to this Python process (atexit and
                PR_SET_PDEATHSIG). False only for the detached CLI broker.
            log_file: Broker log (log4j2 rolling file); default ``data_dir/broker.log``.
        """
        if not _HEAP_RE.match(heap):
            raise ValueError(f"heap must look like '512m' or '1g', got {heap!r}")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.heap = heap
        self.die_with_parent = die_with_parent
        self.log_file = Path(log_file).expanduser().resolve() if log_file else self.data_dir / LOG_FILE_NAME
        self._cache_dir = cache_dir
        self._requested_port = port
        self._requested_controller_port = controller_port
        state = _read_json(self.state_file)
        self._port: int | None = port or state.get("port")
        self._controller_port: int | None = controller_port or state.get("controller_port")
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths and addresses

    @property
    def state_file(self) -> Path:
        """``repwatch-broker.json``: persisted ports and cluster id of this data dir."""
        return self.data_dir / STATE_FILE_NAME

    @property
    def properties_file(self) -> Path:
        return self.data_dir / PROPERTIES_FILE_NAME

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE_NAME

    @property
    def stdout_file(self) -> Path:
        """JVM stdout/stderr (normally near-empty: crashes, GC warnings, log4j config errors)."""
        return self.data_dir / STDOUT_FILE_NAME

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def controller_port(self) -> int | None:
        return self._controller_port

    @property
    def bootstrap(self) -> str:
        """``bootstrap_servers`` for clients, e.g. ``"127.0.0.1:40123"``."""
        if self._port is None:
            raise KafkaBrokerError(f"broker on {self.data_dir} has no port yet: call start() first")
        return f"{_LOOPBACK}:{self._port}"

    @property
    def pid(self) -> int | None:
        """Pid of the JVM while this object runs it, else None."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    def is_running(self) -> bool:
        """True while the JVM started by this object is alive."""
        return self._proc is not None and self._proc.poll() is None

    def is_formatted(self) -> bool:
        """True once the KRaft storage exists; then it is never formatted again (that would wipe it)."""
        return (self.data_dir / KAFKA_LOG_DIR_NAME / "meta.properties").is_file()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"EmbeddedKafka(data_dir={str(self.data_dir)!r}, port={self._port}, {state})"

    # -- lifecycle

    def start(self, timeout: float = 90.0) -> EmbeddedKafka:
        """Start the broker and return once a kafka-python admin call succeeds.

        Fetches the jars on first use (not counted in ``timeout``), formats the storage
        only if this data dir was never formatted, then waits up to ``timeout`` seconds
        for the broker to serve requests. On failure the JVM is stopped and
        :class:`BrokerStartError` carries the tail of the broker log. Idempotent.
        """
        if self.is_running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / _START_LOCK_NAME):
            other = _running_pid(self.data_dir)
            if other is not None:
                running_port = _read_json(self.state_file).get("port")
                bootstrap = f"{_LOOPBACK}:{running_port}" if running_port else None
                raise BrokerAlreadyRunningError(
                    f"a Kafka broker (pid {other}) is already running on {self.data_dir}"
                    + (f" at {bootstrap}" if bootstrap else "")
                    + "; use it, or stop it first (repwatch broker stop)",
                    pid=other,
                    bootstrap=bootstrap,
                )
            port, controller_port = self._resolve_ports()
            libs = ensure_kafka_jars(cache_dir=self._cache_dir)
            java = _find_java()
            _write_text_atomic(self.properties_file, _server_properties(self.data_dir, port, controller_port))
            if not self.is_formatted():
                self._format_storage(java, libs)
            self._spawn(java, libs)
        try:
            self._wait_ready(time.monotonic() + timeout, timeout)
        except BaseException:  # includes Ctrl-C while waiting: never leave the JVM behind
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the JVM this object started: SIGTERM (clean shutdown), wait, then SIGKILL.

        A clean shutdown lets the next start skip log recovery. Does nothing if this
        object is not running a broker (a detached one is stopped with :func:`broker_stop`).
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # Only now: if Ctrl-C interrupted the wait above, the atexit hook still retries.
        atexit.unregister(self._atexit_stop)
        self._proc = None
        with contextlib.suppress(OSError):
            if self.pid_file.read_text().strip() == str(proc.pid):
                self.pid_file.unlink()

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals

    def _atexit_stop(self) -> None:
        # Shorter than stop()'s default: at interpreter exit someone is usually waiting.
        self.stop(timeout=10.0)

    def _resolve_ports(self) -> tuple[int, int]:
        """Pick/persist the two ports and make sure nobody else holds them."""
        state = _read_json(self.state_file)
        persisted = {"port": state.get("port"), "controller_port": state.get("controller_port")}
        port = self._requested_port or persisted["port"]
        controller_port = self._requested_controller_port or persisted["controller_port"]
        if port is None or controller_port is None:
            # Three candidates: even if one equals the port already fixed, two remain.
            free = iter(p for p in free_ports(3) if p not in (port, controller_port))
            port = port or next(free)
            controller_port = controller_port or next(free)
        if port == controller_port:
            raise ValueError(f"port and controller_port must differ (both {port})")
        for name, value in (("port", port), ("controller_port", controller_port)):
            if not port_is_free(value):
                if value == persisted[name]:
                    why = (
                        f"is persisted in {self.state_file} so that clients keep their bootstrap address, "
                        "but another process is now listening on it. Stop that process, or delete "
                        f'the "{name}" entry from that file to let the broker pick a new port.'
                    )
                else:
                    why = "was requested but another process is already listening on it."
                raise PortInUseError(f"Kafka {name.replace('_', ' ')} {_LOOPBACK}:{value} {why}")
        state.update(port=port, controller_port=controller_port, kafka_version=KAFKA_VERSION)
        state.setdefault("cluster_id", _new_cluster_id())
        _write_text_atomic(self.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n")
        self._port, self._controller_port = port, controller_port
        return port, controller_port

    def _jvm_base(self, java: str, libs: Path, heap: str) -> list[str]:
        return [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            # Serial GC: on a 2-core box shared with the Python services, G1's concurrent
            # and parallel GC threads compete with them for CPU; with a heap this small
            # serial young collections take a few ms, and there are no background threads.
            "-XX:+UseSerialGC",
            # A broker out of heap is broken; exiting makes the failure visible at once
            # (start() reports the log tail) instead of a half-alive JVM.
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Drepwatch.kafka.log.file={self.log_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{libs}{os.sep}*",
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        """One-time ``kafka-storage format --standalone``: writes meta.properties and the
        bootstrap metadata (single-voter dynamic quorum) into the log dir."""
        cluster_id = _read_json(self.state_file).get("cluster_id") or _new_cluster_id()
        cmd = [
            *self._jvm_base(java, libs, "256m"),
            # Short-lived tool: skip the optimising JIT, it only costs startup time here.
            "-XX:TieredStopAtLevel=1",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
        ]
        result = subprocess.run(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting Kafka storage in {self.data_dir / KAFKA_LOG_DIR_NAME} failed "
                f"(exit code {result.returncode}):\n{result.stdout.strip()}\n{_tail(self.log_file, 20)}"
            )

    def _spawn(self, java: str, libs: Path) -> None:
        cmd = [*self._jvm_base(java, libs, self.heap), "kafka.Kafka", str(self.properties_file)]
        preexec = die_with_parent_preexec() if self.die_with_parent else None
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_file, "ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
                # Own session/process group: a Ctrl-C in the terminal reaches only Python,
                # which then stops the broker cleanly (and in order) instead of both racing.
                start_new_session=True,
                preexec_fn=preexec,
            )
        _write_text_atomic(self.pid_file, f"{self._proc.pid}\n")
        if self.die_with_parent:
            atexit.register(self._atexit_stop)

    def _failure(self, headline: str) -> BrokerStartError:
        parts = [headline, f"broker log: {self.log_file}"]
        log_tail = _tail(self.log_file)
        if log_tail:
            parts.append(f"--- last lines of {self.log_file.name} ---\n{log_tail}")
        out_tail = _tail(self.stdout_file, 15)
        if out_tail:
            parts.append(f"--- last lines of {self.stdout_file.name} ---\n{out_tail}")
        return BrokerStartError("\n".join(parts))

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        """Block until the broker answers requests and a kafka-python admin call succeeds."""
        from kafka import KafkaAdminClient  # deferred: importing kafka-python is slow-ish
        from kafka.errors import KafkaError

        assert self._proc is not None and self._port is not None

        def check_alive() -> None:
            code = self._proc.poll() if self._proc is not None else None
            if code is not None:
                raise self._failure(f"Kafka broker exited with code {code} during startup")

        while not _kafka_answers(self._port):
            check_alive()
            if time.monotonic() >= deadline:
                raise self._failure(f"Kafka broker did not answer on {self.bootstrap} within {timeout:.0f}s")
            time.sleep(0.2)

        last_error: Exception | None = None
        while True:
            check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._failure(
                    f"Kafka broker on {self.bootstrap} did not serve an admin request within "
                    f"{timeout:.0f}s (last error: {last_error!r})"
                )
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id="repwatch-embedded-healthcheck",
                    bootstrap_timeout_ms=int(min(remaining, 10.0) * 1000),
                    request_timeout_ms=int(min(remaining, 10.0) * 1000),
                )
                try:
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except KafkaError as exc:
                last_error = exc
                time.sleep(0.5)

    def _detach(self) -> None:
        """Forget the JVM without stopping it (detached CLI broker)."""
        atexit.unregister(self._atexit_stop)
        with warnings.catch_warnings():
            # Popen warns when its object is dropped with the child still running;
            # for a detached broker that is exactly the intent.
            warnings.simplefilter("ignore", ResourceWarning)
            self._proc = None


# ------------------------------------------------------------------ detached broker


def _resolve_data_dir(data_dir: Path | None) -> Path:
    return (Path(data_dir).expanduser() if data_dir is not None else default_broker_data_dir()).resolve()


def _running_pid(data_dir: Path) -> int | None:
    """Pid from ``data_dir/broker.pid`` if that process is a live broker on this data dir."""
    try:
        pid = int((data_dir / PID_FILE_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_is_our_broker(pid, data_dir / PROPERTIES_FILE_NAME) else None


def broker_status(data_dir: Path | None = None) -> dict[str, Any] | None:
    """Describe the broker running on ``data_dir`` (default: the CLI's), or None if none runs.

    Returns ``pid``, ``bootstrap``, ``port``, ``controller_port``, ``data_dir``,
    ``log_file`` and ``answering`` (whether it currently serves requests).
    """
    directory = _resolve_data_dir(data_dir)
    pid = _running_pid(directory)
    if pid is None:
        return None
    state = _read_json(directory / STATE_FILE_NAME)
    port = state.get("port")
    return {
        "pid": pid,
        "bootstrap": f"{_LOOPBACK}:{port}" if port else None,
        "port": port,
        "controller_port": state.get("controller_port"),
        "data_dir": str(directory),
        "log_file": str(directory / LOG_FILE_NAME),
        "answering": bool(port) and _kafka_answers(int(port), timeout=1.0),
    }


def broker_start(data_dir: Path | None = None, *, timeout: float = 90.0, log: Callable[[str], Any] = print) -> str:
    """Start a detached broker that outlives this process and return its bootstrap address.

    If a broker already runs on ``data_dir``, say so and return its bootstrap instead.
    The JVM gets no parent-death signal and no atexit hook; :func:`broker_stop` finds
    it again through ``data_dir/broker.pid``.
    """
    directory = _resolve_data_dir(data_dir)
    status = broker_status(directory)
    if status is not None and status["bootstrap"]:
        pid, bootstrap = status["pid"], status["bootstrap"]
        log(f"Kafka broker already running (pid {pid}) at {bootstrap}, data in {directory}")
        return str(status["bootstrap"])
    broker = EmbeddedKafka(directory, die_with_parent=False)
    started = time.monotonic()
    try:
        broker.start(timeout=timeout)
    except BrokerAlreadyRunningError as exc:  # lost a race with another `broker start`
        if exc.bootstrap:
            log(f"Kafka broker already running (pid {exc.pid}) at {exc.bootstrap}, data in {directory}")
            return exc.bootstrap
        raise
    bootstrap = broker.bootstrap
    log(
        f"Kafka {KAFKA_VERSION} broker started (pid {broker.pid}) at {bootstrap} in "
        f"{time.monotonic() - started:.1f}s; data in {directory}, log {broker.log_file}"
    )
    broker._detach()
    return bootstrap


def broker_stop(data_dir: Path | None = None, *, timeout: float = 20.0, log: Callable[[str], Any] = print) -> bool:
    """Stop the broker running on ``data_dir``; True if one was running."""
    directory = _resolve_data_dir(data_dir)
    pid = _running_pid(directory)
    if pid is None:
        log(f"no Kafka broker running on {directory}")
        return False
    started = time.monotonic()
    terminate_pid(pid, timeout)
    with contextlib.suppress(OSError):
        (directory / PID_FILE_NAME).unlink()
    log(f"Kafka broker (pid {pid}) stopped in {time.monotonic() - started:.1f}s")
    return True


def cli(argv: list[str] | None = None) -> int:
    """``repwatch broker start|stop|status``; returns the process exit code.

    Exit codes: 0 success; 1 error; ``status`` returns 3 when no broker runs (the LSB
    init-script convention, so shell scripts can test it). ``stop`` with nothing
    running is a success: the desired state is reached.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="broker data dir (default: $REPWATCH_BROKER_DATA_DIR or ~/.local/share/repwatch/broker)",
    )
    parser = argparse.ArgumentParser(
        prog="repwatch broker",
        description=f"Run the project's single-node Apache Kafka {KAFKA_VERSION} broker in the background.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser(
        "start", parents=[common], help="start the broker (no-op if running); prints its bootstrap"
    )
    p_start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness (default 90)")
    p_stop = sub.add_parser("stop", parents=[common], help="stop the broker (clean shutdown, SIGKILL after --timeout)")
    p_stop.add_argument("--timeout", type=float, default=20.0, help="seconds before SIGKILL (default 20)")
    p_status = sub.add_parser("status", parents=[common], help="show whether the broker runs; exit code 3 if not")
    p_status.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)

    def err(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        if args.command == "start":
            bootstrap = broker_start(args.data_dir, timeout=args.timeout, log=err)
            # Progress goes to stderr and only the bootstrap to stdout, so that
            # `BOOTSTRAP=$(repwatch broker start)` works in scripts.
            print(bootstrap)
            return 0
        if args.command == "stop":
            broker_stop(args.data_dir, timeout=args.timeout, log=err)
            return 0
        status = broker_status(args.data_dir)
        if args.json:
            print(json.dumps(status))
        elif status is None:
            print(f"no Kafka broker running on {_resolve_data_dir(args.data_dir)}")
        else:
            health = "answering" if status["answering"] else "NOT answering (starting or stuck?)"
            print(
                f"Kafka broker running (pid {status['pid']}) at {status['bootstrap']}, {health}; "
                f"data in {status['data_dir']}, log {status['log_file']}"
            )
        return 0 if status is not None else 3
    except (KafkaBrokerError, ValueError) as exc:
        err(f"repwatch broker {args.command}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
