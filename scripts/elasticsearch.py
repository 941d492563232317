#!/usr/bin/env python3
"""A real single-node Elasticsearch on loopback, fetched from Maven Central — no Docker.

    scripts/elasticsearch.py fetch                 download the jars once (offline afterwards)
    scripts/elasticsearch.py start [--port N]      start (or reuse) the node; prints its URL
    scripts/elasticsearch.py stop                  stop it (a no-op when it is not running)
    scripts/elasticsearch.py status                print the URL; exit 1 when not running

How: Maven resolves the server (``org.elasticsearch:elasticsearch``) and the HTTP transport
module (``org.elasticsearch.plugin:transport-netty4``) with their dependency closure into
``.cache/elasticsearch/<version>/``; ``scripts/elasticsearch/SingleNode.java`` (compiled once
with the JDK's javac) builds the same ``Node`` the distribution builds, with netty4 installed
as a module under ``path.home/modules``. Security is off (no x-pack), discovery is
single-node, the heap is small, and data lives in the state directory (``--state-dir``,
default ``.cache/elasticsearch/node``), so a stop/start keeps the indices.

Only what the server jar itself contains is available: e.g. the ``standard`` tokenizer, but
not the ``analysis-common`` module (it is not published to Maven Central). The project's
mapping (search/elasticsearch/mapping.py) uses nothing else, so it runs on any distribution.

Standard library only: it runs before the virtualenv exists. The test suite imports it
(tests/conftest.py) to start one node per session.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "9.5.3"  # the newest release on Maven Central; the Python client is pinned to 9.x
MIN_JAVA = 21  # Elasticsearch 9 needs Java 21+ (its plugin descriptors say java.version=21)
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "elasticsearch"
DEFAULT_STATE = CACHE / "node"
LAUNCHER_SOURCE = Path(__file__).resolve().parent / "elasticsearch" / "SingleNode.java"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.wecom-audit</groupId>
  <artifactId>elasticsearch-{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""


class NodeError(RuntimeError):
    """Something the user has to fix; the message says what."""


@dataclass(frozen=True)
class Distribution:
    """The fetched jars and the compiled launcher of one version."""

    version: str
    java: Path

    @property
    def root(self) -> Path:
        return CACHE / self.version

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def modules(self) -> Path:
        return self.root / "modules"

    @property
    def classes(self) -> Path:
        return self.root / "classes"

    @property
    def ready(self) -> Path:
        return self.root / "READY"


# --------------------------------------------------------------------------------------- java


def _java_major(java: Path) -> int:
    try:
        out = subprocess.run(  # noqa: S603 - a JDK found on this machine
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except OSError:
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> Path:
    """A JDK (java and javac) of at least ``MIN_JAVA``: $ES_JAVA_HOME, $JAVA_HOME, the one on
    PATH, then the newest under /usr/lib/jvm."""
    homes: list[Path] = []
    for variable in ("ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(variable):
            homes.append(Path(os.environ[variable]))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    homes += sorted(Path("/usr/lib/jvm").glob("*"), reverse=True) if Path("/usr/lib/jvm").is_dir() else []
    best: tuple[int, Path] | None = None
    for home in homes:
        java = home / "bin" / "java"
        if not (java.exists() and (home / "bin" / "javac").exists()):
            continue
        major = _java_major(java)
        if major >= MIN_JAVA and (best is None or major > best[0]):
            best = (major, java)
    if best is None:
        raise NodeError(
            f"Elasticsearch {VERSION} needs a JDK {MIN_JAVA} or newer (java and javac); none was found in "
            "$ES_JAVA_HOME, $JAVA_HOME, PATH or /usr/lib/jvm. Install one (e.g. Temurin 21+) and set ES_JAVA_HOME."
        )
    return best[1]


# -------------------------------------------------------------------------------------- fetch


def _maven_copy(pom_dir: Path, group: str, artifact: str, version: str, target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise NodeError("Maven (mvn) is needed once to fetch Elasticsearch from Maven Central: apt-get install maven")
    pom_dir.mkdir(parents=True, exist_ok=True)
    (pom_dir / "pom.xml").write_text(_POM.format(name=artifact, group=group, artifact=artifact, version=version))
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom_dir / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={target}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed mvn call
    if result.returncode != 0:
        raise NodeError(
            f"Maven could not fetch {group}:{artifact}:{version} from Maven Central "
            f"(is the network or your Maven mirror reachable?):\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )


def fetch(version: str = VERSION, *, quiet: bool = False) -> Distribution:
    """Download the server and the netty4 module with their dependencies, compile the
    launcher. Idempotent: a complete download (``READY``) is reused without the network."""
    java = find_java()
    dist = Distribution(version, java)
    if dist.ready.exists():
        return dist
    if not quiet:
        print(f"Fetching Elasticsearch {version} from Maven Central into {dist.root} ...", file=sys.stderr)
    staging = dist.root / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    for path in (dist.lib, dist.modules, dist.classes):
        shutil.rmtree(path, ignore_errors=True)
    _maven_copy(staging / "server", "org.elasticsearch", "elasticsearch", version, staging / "server-lib")
    _maven_copy(staging / "netty4", "org.elasticsearch.plugin", "transport-netty4", version, staging / "netty4-lib")
    (staging / "server-lib").rename(dist.lib)
    # The module gets only what the server does not already have: the same jar on the class
    # path and in a plugin fails Elasticsearch's jar-hell check.
    server_jars = {jar.name for jar in dist.lib.glob("*.jar")}
    module = dist.modules / "transport-netty4"
    module.mkdir(parents=True)
    for jar in (staging / "netty4-lib").glob("*.jar"):
        if jar.name not in server_jars:
            shutil.copy2(jar, module / jar.name)
    plugin_jar = module / f"transport-netty4-{version}.jar"
    with zipfile.ZipFile(plugin_jar) as archive:
        descriptor = archive.read("META-INF/es-plugins/transport-netty4/plugin-descriptor.properties").decode()
    # Without ``modulename`` the module loads as a classic plugin: our server runs on the
    # class path, so there is no server module layer for a plugin module layer to build on.
    lines = [line for line in descriptor.splitlines() if not line.startswith("modulename=")]
    (module / "plugin-descriptor.properties").write_text("\n".join(lines) + "\n")
    javac = java.parent / "javac"
    result = subprocess.run(  # noqa: S603 - the JDK's javac on our launcher
        [str(javac), "-cp", f"{dist.lib}/*", "-d", str(dist.classes), str(LAUNCHER_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise NodeError(f"compiling {LAUNCHER_SOURCE.name} failed:\n{result.stderr}")
    shutil.rmtree(staging, ignore_errors=True)
    dist.ready.write_text(f"{version}\n")
    return dist


# ---------------------------------------------------------------------------------- the node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) still "exists": check its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _healthy(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout_s) as response:  # noqa: S310 - our http URL
            status = json.load(response).get("status")
    except (OSError, ValueError):
        return False
    return status in ("green", "yellow")


@dataclass(frozen=True)
class Node:
    """A node's state directory: ``pid``, ``url``, ``node.log``, ``home/`` (data, logs)."""

    state_dir: Path = DEFAULT_STATE

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pid"

    @property
    def url_file(self) -> Path:
        return self.state_dir / "url"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "node.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def url(self) -> str | None:
        """The URL when the node runs and answers, else ``None``."""
        if self.pid() is None:
            return None
        try:
            url = self.url_file.read_text().strip()
        except OSError:
            return None
        return url if _healthy(url) else None

    def start(
        self, *, port: int = 0, heap: str = "512m", version: str = VERSION, timeout_s: float = START_TIMEOUT_S
    ) -> str:
        """Start the node (or return the URL of the one already running here)."""
        running = self.url()
        if running:
            return running
        if self.pid() is not None:  # alive but not answering: a half-started node; replace it
            self.stop()
        dist = fetch(version)
        home = self.state_dir / "home"
        (home / "config").mkdir(parents=True, exist_ok=True)
        (home / "plugins").mkdir(exist_ok=True)
        modules = home / "modules"
        if modules.is_symlink() or modules.exists():
            modules.unlink()
        modules.symlink_to(dist.modules, target_is_directory=True)
        # Keep the port across restarts of the same state directory (clients keep their URL).
        if not port:
            try:
                port = int(self.url_file.read_text().strip().rsplit(":", 1)[1])
            except (OSError, ValueError, IndexError):
                port = 0
            if not port or not _port_free(port):
                port = _free_port()
        settings = {
            "path.home": home,
            "path.data": home / "data",
            "path.logs": home / "logs",
            "cluster.name": "wecom-audit-local",
            "node.name": "node-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": port,
            "transport.port": 0,
            # A test or laptop disk may be fuller than a server's: never block writes for it.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
            # The parent circuit breaker's "real memory" check reads the heap in use, which with
            # the Serial GC includes garbage not yet collected (Elasticsearch only provokes a
            # collection before tripping under G1): bulk builds failed with HTTP 429 "Data too
            # large" at 946 of 1024 MB. Count the child breakers' reservations instead.
            "indices.breaker.total.use_real_memory": "false",
        }
        command = [
            str(dist.java),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",  # two cores shared with the application: no parallel GC threads
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            "-Dlog4j2.formatMsgNoLookups=true",
            f"-Des.path.home={home}",
            f"-Djava.io.tmpdir={self.state_dir / 'tmp'}",
            "--enable-native-access=ALL-UNNAMED",
            "-cp",
            f"{dist.classes}:{dist.lib}/*",
            "SingleNode",
            *(f"{key}={value}" for key, value in settings.items()),
        ]
        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        url = f"http://127.0.0.1:{port}"
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed program and arguments
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pid_file.write_text(f"{process.pid}\n")
        self.url_file.write_text(f"{url}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NodeError(f"Elasticsearch exited during startup (code {process.returncode}); see {self.log_file}")
            if _healthy(url):
                return url
            time.sleep(0.5)
        self.stop()
        raise NodeError(f"Elasticsearch did not answer on {url} within {timeout_s:.0f} s; see {self.log_file}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop the node; ``False`` when none was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the server binds: connections of a previous run in TIME_WAIT do not block it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("command", choices=("fetch", "start", "stop", "status"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="pid, URL, log and data of the node")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: the previous one, or a free one)")
    parser.add_argument("--heap", default="512m", help="JVM heap, e.g. 512m or 1g")
    parser.add_argument("--version", default=VERSION, help=f"Elasticsearch version (default {VERSION})")
    args = parser.parse_args(argv)
    node = Node(args.state_dir.resolve())
    try:
        if args.command == "fetch":
            dist = fetch(args.version)
            print(f"Elasticsearch {dist.version} ready in {dist.root} (java: {dist.java})")
        elif args.command == "start":
            print(node.start(port=args.port, heap=args.heap, version=args.version))
        elif args.command == "stop":
            print("stopped" if node.stop() else "not running")
        else:
            url = node.url()
            if url is None:
                print("not running", file=sys.stderr)
                return 1
            print(url)
    except NodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
