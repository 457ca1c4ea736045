"""The class roster: who may log in to the hub, with which password, as a student or a teacher.

A roster is a CSV file with the header ``username,role,password_hash``; ``role`` is ``student`` or
``teacher`` (a teacher is a hub admin and may open the formgrader). Passwords are stored only as
scrypt hashes (``scrypt$n$r$p$salt$hash``, hex), so the file can be read by whoever runs the hub
without revealing a password. Add people with the command line, which prints each new password once:

    python deploy/hub/roster.py build/hub/roster.csv add alice bob
    python deploy/hub/roster.py build/hub/roster.csv add --teacher tess

``RosterAuthenticator`` is the JupyterHub authenticator that checks logins against the roster. It
reads the file at every login, so people added or removed while the hub runs take effect at once.
For a real class, log in through the school's system instead (LTI 1.3: see ``auth_lti13.py``).
"""

import argparse
import csv
import hashlib
import hmac
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Unicode

ROLES = ("student", "teacher")
FIELDS = ["username", "role", "password_hash"]
# JupyterHub names appear in URLs, cgroup and folder names: keep them to safe characters.
USERNAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
SCRYPT = {
    "n": 2**14,
    "r": 8,
    "p": 1,
}  # 16 MiB and about 50 ms per check: cheap for a login, dear for guessing


@dataclass(frozen=True)
class Member:
    username: str
    role: str
    password_hash: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` for ``password`` (a fresh random salt unless one is given)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return "$".join(["scrypt", *(str(SCRYPT[k]) for k in "nrp"), salt.hex(), digest.hex()])


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = password_hash.split("$")
        if scheme != "scrypt":
            return False
        found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:  # a damaged line never lets anyone in
        return False
    return hmac.compare_digest(found.hex(), digest)


def check_member(username: str, role: str) -> None:
    if not USERNAME.fullmatch(username):
        raise ValueError(
            f"username {username!r} is not allowed: use 1-32 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not allowed: use one of {', '.join(ROLES)}")


def read_roster(path: Path) -> dict[str, Member]:
    """{username: Member} from the roster file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"roster file {str(path)!r} does not exist: create it with `roster.py PATH add NAME`"
        )
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != FIELDS:
            raise ValueError(f"roster file {str(path)!r} has columns {reader.fieldnames}; expected {FIELDS}")
        members = [Member(**row) for row in reader]
    for m in members:
        check_member(m.username, m.role)
    return {m.username: m for m in members}


def write_roster(path: Path, members: dict[str, Member]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(vars(m) for m in members.values())
    partial.chmod(0o600)  # hashes only, but nobody else needs them
    partial.replace(path)


def add_members(path: Path, usernames: list[str], role: str = "student") -> dict[str, str]:
    """Add ``usernames`` to the roster with fresh random passwords: {username: password}.

    An existing member gets a new password (that is how a forgotten password is reset)."""
    for name in usernames:
        check_member(name, role)
    members = read_roster(path) if Path(path).is_file() else {}
    passwords = {name: secrets.token_urlsafe(12) for name in usernames}
    for name, password in passwords.items():
        members[name] = Member(name, role, hash_password(password))
    write_roster(path, members)
    return passwords


def remove_members(path: Path, usernames: list[str]) -> None:
    members = read_roster(path)
    missing = [name for name in usernames if name not in members]
    if missing:
        raise ValueError(f"usernames {missing} are not in the roster {str(path)!r}")
    write_roster(path, {k: m for k, m in members.items() if k not in usernames})


class RosterAuthenticator(Authenticator):
    """Log in with a username and password from the roster file; teachers become hub admins."""

    roster_file = Unicode(config=True, help="Path of the roster CSV file (see roster.py).")

    def _member(self, username: str) -> Member | None:
        return read_roster(Path(self.roster_file)).get(username)

    async def authenticate(self, handler, data):
        member = self._member(self.normalize_username(data.get("username", "")))
        if member is None or not verify_password(data.get("password", ""), member.password_hash):
            return None
        return {"name": member.username, "admin": member.role == "teacher"}

    def check_allowed(self, username, authentication=None):
        return self._member(username) is not None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Add people to, or remove them from, a class roster.")
    parser.add_argument("roster", type=Path, help="the roster CSV file (created if missing)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add people (or reset their passwords); prints each password once")
    add.add_argument("usernames", nargs="+")
    add.add_argument("--teacher", action="store_true", help="add them as teachers (hub admins)")
    remove = commands.add_parser("remove", help="remove people")
    remove.add_argument("usernames", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "add":
            passwords = add_members(args.roster, args.usernames, "teacher" if args.teacher else "student")
            for name, password in passwords.items():
                print(f"{name}\t{password}")
        else:
            remove_members(args.roster, args.usernames)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"roster.py: {error}")


if __name__ == "__main__":
    main()
