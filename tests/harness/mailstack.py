"""A private Postfix + Dovecot on 127.0.0.1, started and stopped by the tests.

Nothing of the system's mail setup is used or touched: each `MailStack` writes its own
`main.cf`/`master.cf` and `dovecot.conf` under a fresh directory, listens on unused ports,
and keeps its queue, logs and the bounce Maildir there. What it reproduces is the path a
bounce takes in production:

    invoicebot --SMTP--> Postfix --relays bounce.example--> relay that answers 550 5.1.1
    Postfix writes a real RFC 3464 DSN to the envelope sender bounces+TOKEN@localhost
    --virtual delivery (recipient_delimiter +)--> Maildir of the Unix user `bounces`
    <--IMAP (Dovecot, plain login on loopback)-- the bounce mailbox loop

The pitfalls of /work/shared/FACTS.md are handled here: no comments after values in
main.cf, main.cf backdated (Postfix pauses ~2 s for a fresh one), `service_throttle_time`
lowered, `maillog_file` with its prefix allowed, Dovecot's output sent to a file (it keeps
the caller's stderr open otherwise).

Starting needs root (Postfix's master and Dovecot both drop privileges themselves).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BOUNCE_USER = "bounces"
BOUNCE_PASSWORD = "bounce-mailbox-test-password"
BOUNCING_DOMAIN = "bounce.example"
HOSTNAME = "mx.invoicebot.test"


def missing_requirements() -> str | None:
    """Why this machine cannot run the mail stack, or None when it can."""
    for binary in ("postfix", "dovecot", "doveadm"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            return f"`{binary}` is not installed (run .ci/system-packages: apt-get install postfix dovecot-imapd)"
    try:
        pwd.getpwnam(BOUNCE_USER)
    except KeyError:
        return f"the Unix user `{BOUNCE_USER}` does not exist (run .ci/system-packages)"
    if os.geteuid() != 0:
        return "starting a private Postfix and Dovecot needs root"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {within} s")


def wait_for_port_closed(port: int, *, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and port_is_open(port):
        time.sleep(0.02)


@dataclass
class MailStack:
    """One private Postfix + Dovecot; `relay_port` is where bounce.example mail is relayed."""

    relay_port: int
    root: Path
    smtp_port: int = 0
    imap_port: int = 0

    @property
    def postfix_dir(self) -> Path:
        return self.root / "postfix"

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / BOUNCE_USER

    @property
    def postfix_log(self) -> Path:
        return self.root / "log" / "postfix.log"

    @property
    def dovecot_log(self) -> Path:
        return self.root / "log" / "dovecot.log"

    @property
    def dovecot_conf(self) -> Path:
        return self.root / "dovecot" / "dovecot.conf"

    @classmethod
    def create(cls, *, relay_port: int) -> MailStack:
        root = Path(tempfile.mkdtemp(prefix="invoicebot-mailstack-"))
        root.chmod(0o755)  # the `bounces` user must reach its Maildir below
        stack = cls(relay_port=relay_port, root=root, smtp_port=free_port(), imap_port=free_port())
        stack._write_config()
        return stack

    # -- configuration --------------------------------------------------------------------

    def _write_config(self) -> None:
        user = pwd.getpwnam(BOUNCE_USER)
        postfix_user = pwd.getpwnam("postfix")
        for folder in ("postfix", "queue", "data", "log", "dovecot", "dovecot/run", "dovecot/state", "mail"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        os.chown(self.root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        os.chown(self.root / "mail", user.pw_uid, user.pw_gid)
        for sub in ("", "cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.maildir / sub, user.pw_uid, user.pw_gid)
            (self.maildir / sub).chmod(0o700)
        self.postfix_log.touch()

        main_cf = self.postfix_dir / "main.cf"
        main_cf.write_text(self._main_cf(uid=user.pw_uid, gid=user.pw_gid))
        (self.postfix_dir / "master.cf").write_text(self._master_cf())
        # Postfix waits ~2 s when main.cf is younger than a second: backdate it.
        past = time.time() - 60
        os.utime(main_cf, (past, past))

        users = self.root / "dovecot" / "users"
        users.write_text(
            f"{BOUNCE_USER}:{{PLAIN}}{BOUNCE_PASSWORD}:{user.pw_uid}:{user.pw_gid}::{self.root / 'mail'}::\n"
        )
        users.chmod(0o644)
        self.dovecot_conf.write_text(self._dovecot_conf(users))

    def _main_cf(self, *, uid: int, gid: int) -> str:
        root = self.root
        # No comments after values: Postfix would take them as part of the value.
        return "\n".join(
            [
                "compatibility_level = 3.6",
                f"queue_directory = {root / 'queue'}",
                f"data_directory = {root / 'data'}",
                f"maillog_file = {self.postfix_log}",
                f"maillog_file_prefixes = /var, /dev/stdout, {root / 'log'}",
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                f"myhostname = {HOSTNAME}",
                "mydomain = invoicebot.test",
                "myorigin = $myhostname",
                "mydestination =",
                "mynetworks = 127.0.0.0/8",
                "relayhost =",
                "alias_maps =",
                "alias_database =",
                "local_recipient_maps =",
                "biff = no",
                "smtputf8_enable = no",
                "append_dot_mydomain = no",
                "recipient_delimiter = +",
                "smtp_dns_support_level = disabled",
                "smtp_tls_security_level = none",
                "smtpd_tls_security_level = none",
                f"transport_maps = inline:{{ {BOUNCING_DOMAIN}=smtp:[127.0.0.1]:{self.relay_port} }}",
                "virtual_mailbox_domains = localhost",
                f"virtual_mailbox_maps = inline:{{ {BOUNCE_USER}@localhost={BOUNCE_USER}/ }}",
                f"virtual_mailbox_base = {root / 'mail'}",
                f"virtual_uid_maps = static:{uid}",
                f"virtual_gid_maps = static:{gid}",
                "virtual_minimum_uid = 1",
                "service_throttle_time = 1s",
                "queue_run_delay = 1s",
                "minimal_backoff_time = 1s",
                "maximal_backoff_time = 2s",
                "bounce_queue_lifetime = 0",
                "maximal_queue_lifetime = 0",
                "smtp_connect_timeout = 5s",
                "",
            ]
        )

    def _master_cf(self) -> str:
        rows = [
            f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return "\n".join(rows) + "\n"

    def _dovecot_conf(self, users: Path) -> str:
        run = self.root / "dovecot"
        return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {run / "run"}
state_dir = {run / "state"}
log_path = {self.dovecot_log}
info_log_path = {self.dovecot_log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.maildir}
first_valid_uid = 1
shutdown_clients = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

    # -- processes ------------------------------------------------------------------------

    def start(self) -> None:
        self.start_postfix()
        self.start_dovecot()

    def start_postfix(self) -> None:
        _run(["postfix", "-c", str(self.postfix_dir), "start"], what="postfix start")
        wait_for_port(self.smtp_port, within=15, what="Postfix")

    def start_dovecot(self) -> None:
        # Dovecot keeps the caller's stdout/stderr open: give it a file, never a pipe.
        with open(self.root / "log" / "dovecot.stdout", "ab") as output:
            subprocess.run(
                ["dovecot", "-c", str(self.dovecot_conf)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                check=True,
                timeout=20,
            )
        wait_for_port(self.imap_port, within=15, what="Dovecot")

    def stop_dovecot(self) -> None:
        with open(self.root / "log" / "dovecot.stdout", "ab") as output:
            subprocess.run(
                ["doveadm", "-c", str(self.dovecot_conf), "stop"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                check=False,
                timeout=20,
            )
        wait_for_port_closed(self.imap_port, within=10)
        # The port closes before the master exits; a start before that says "already running".
        wait_for_exit(self.root / "dovecot" / "run" / "master.pid", within=10)

    def stop_postfix(self) -> None:
        with open(self.root / "log" / "postfix.stop", "ab") as output:
            subprocess.run(
                ["postfix", "-c", str(self.postfix_dir), "stop"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                check=False,
                timeout=30,
            )
        wait_for_port_closed(self.smtp_port, within=10)
        wait_for_exit(self.root / "queue" / "pid" / "master.pid", within=10)

    def stop(self) -> None:
        """Stop both; whatever survives its polite stop is killed by the pid in its own pid file."""
        try:
            self.stop_dovecot()
        finally:
            try:
                self.stop_postfix()
            finally:
                for pid_file in (
                    self.root / "dovecot" / "run" / "master.pid",
                    self.root / "queue" / "pid" / "master.pid",
                ):
                    _kill_survivor(pid_file)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the mailbox, seen from the filesystem (for test setup only) -----------------------

    def drop_into_mailbox(self, raw: bytes, *, name: str) -> None:
        """Put a message straight into the Maildir, as any delivery agent would."""
        user = pwd.getpwnam(BOUNCE_USER)
        unique = f"{time.time_ns()}.{name}.{HOSTNAME}"
        temporary = self.maildir / "tmp" / unique
        temporary.write_bytes(raw)
        os.chown(temporary, user.pw_uid, user.pw_gid)
        temporary.rename(self.maildir / "new" / unique)

    def logs(self) -> str:
        """Both servers' logs, for an assertion message when something does not arrive."""
        parts = []
        for path in (self.postfix_log, self.dovecot_log):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def wait_for_exit(pid_file: Path, *, within: float) -> None:
    """Wait until the process named in a master's pid file is gone (it was started by us)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.02)
    if Path(f"/proc/{pid}").exists():
        raise RuntimeError(f"the mail server with pid {pid} ({pid_file}) did not stop within {within} s")


def _kill_survivor(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if Path(f"/proc/{pid}").exists() and str(pid_file.parent.parent) in Path(f"/proc/{pid}/cmdline").read_text(
        errors="replace"
    ) + str(Path(f"/proc/{pid}/environ").read_bytes()):
        os.kill(pid, signal.SIGKILL)


def _run(command: list[str], *, what: str) -> None:
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}")
