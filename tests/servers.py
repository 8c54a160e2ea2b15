"""Real servers for DVC remotes, started on 127.0.0.1 for a test and stopped after it.

- `SSHServer`: OpenSSH's sshd (Debian: openssh-server) with a host key and a user key
  made for the test; DVC reaches it through dvc-ssh, as it would a team's server.
- `HTTPServer`: Python's http.server over a remote's folder: what a public, read-only
  DVC remote is.
- `PostgresServer`: PostgreSQL (Debian: postgresql) with a cluster made for the test: the
  database a shared search study lives in.

Stopping one ends the connections it has forked too, as switching a server off would.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s:\n{log.read_text()}")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`. sshd's connections start sessions of their own, so a
    process group would not hold them; /proc says who forked whom."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # the parent's pid is the 2nd field after the command, which is in parentheses
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Server:
    """A server process on a port of 127.0.0.1: start(), stop(), and again."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = folder / "server.log"
        self.process = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> "Server":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, self.process, self.log)
        return self

    def stop(self) -> None:
        """End the server and every connection it forked, at once, as switching it off would."""
        if self.process is None:
            return
        for pid in [*descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None


def sshd_path() -> str | None:
    return shutil.which("sshd") or next(
        (path for path in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(path, os.X_OK)),
        None)


class SSHServer(Server):
    """sshd on 127.0.0.1, key login only, for the user running the tests."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.user = getpass.getuser()
        self.key = folder / "user_key"
        for key in (folder / "host_key", self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        (folder / "sshd_config").write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {folder / 'host_key'}",
            f"AuthorizedKeysFile {self.key}.pub",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            f"PidFile {folder / 'sshd.pid'}",
            "StrictModes no",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
        ]) + "\n")

    def command(self) -> list[str]:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation folder
        return [sshd_path(), "-D", "-e", "-f", str(self.folder / "sshd_config")]

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path.resolve()}"


class HTTPServer(Server):
    """Python's static file server: GET and HEAD only, so a read-only DVC remote."""

    def __init__(self, folder: Path, serve: Path):
        super().__init__(folder)
        self.serve = serve

    def command(self) -> list[str]:
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                "--directory", str(self.serve)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def ssh_server(folder: Path):
    """A started SSHServer, or a skip that says what is missing."""
    import pytest

    if not sshd_path() or not shutil.which("ssh-keygen"):
        pytest.skip("sshd is not installed (Debian: apt-get install openssh-server)")
    server = SSHServer(folder)
    try:
        return server.start()
    except (RuntimeError, OSError) as error:
        server.stop()
        pytest.skip(f"sshd could not start here: {str(error).strip().splitlines()[-1]}")


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs: on PATH, or Debian's newest."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    return debian[-1].parent if debian else None


class PostgresServer(Server):
    """PostgreSQL on 127.0.0.1 with a new cluster: the user postgres logs in without a
    password. PostgreSQL refuses to run as root, so as root it runs as the user postgres,
    its cluster in a folder of its own outside the tests' private ones."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.bin = postgres_bin()
        self.data = Path(tempfile.mkdtemp(prefix="imdb-postgres-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.data, "postgres")
        subprocess.run([*self.as_user, str(self.bin / "initdb"), "-D", str(self.data / "cluster"),
                        "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, text=True)

    def command(self) -> list[str]:
        return [*self.as_user, str(self.bin / "postgres"), "-D", str(self.data / "cluster"),
                "-p", str(self.port), "-k", str(self.data), "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> "PostgresServer":
        import psycopg

        super().start()
        deadline = time.monotonic() + 20
        while True:  # the port opens before the server takes logins
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres").close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def postgres_server(folder: Path):
    """A started PostgresServer, or a skip that says what is missing."""
    import pytest

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    try:
        server = PostgresServer(folder)
    except (subprocess.CalledProcessError, OSError, KeyError, LookupError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        reason = detail.strip().splitlines()[-1]
        pytest.skip(f"PostgreSQL could not set up a cluster here: {reason}")
    try:
        return server.start()
    except Exception as error:
        server.remove()
        pytest.skip(f"PostgreSQL could not start here: {str(error).strip().splitlines()[-1]}")
