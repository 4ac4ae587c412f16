"""Who the container runs as: USER resolved through the image's passwd and group."""

from __future__ import annotations

from dataclasses import dataclass

from siteproof.archive.model import ImageFilesystem
from siteproof.findings import Finding
from siteproof.preflight import messages


@dataclass(frozen=True, slots=True)
class UserIds:
    """The numeric identity a process gets from a USER spec.

    Attributes:
        uid: user id.
        gid: primary group id.
        groups: supplementary group ids (from /etc/group membership).
    """

    uid: int
    gid: int
    groups: frozenset[int] = frozenset()

    @property
    def all_gids(self) -> set[int]:
        """Return the primary and supplementary groups together."""
        return {self.gid, *self.groups}


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    id: int
    gid: int = 0
    members: tuple[str, ...] = ()


def resolve_user(
    fs: ImageFilesystem, spec: str
) -> tuple[UserIds | None, list[Finding]]:
    """Resolve ``name``, ``uid``, ``name:group`` or ``uid:gid`` as runc does.

    A numeric uid needs no passwd entry (its group is then 0); a name must
    be listed in the image's /etc/passwd and a group name in /etc/group.

    Returns:
        the ids (None when the container would not start) and the findings.
    """
    user, _, group = spec.partition(":")
    if not user and not group:
        return UserIds(0, 0), []
    users = _read_accounts(fs, "/etc/passwd")
    groups = _read_accounts(fs, "/etc/group")
    account = _find(users, user or "0")
    if account is None and not user.isdigit():
        return None, [messages.user_unknown(user)]
    uid = account.id if account else int(user)
    gid = account.gid if account else 0
    if group:
        found = _find(groups, group)
        if found is None and not group.isdigit():
            return None, [messages.group_unknown(group)]
        gid = found.id if found else int(group)
    name = account.name if account else ""
    supplementary = frozenset(g.id for g in groups if name and name in g.members)
    return UserIds(uid, gid, supplementary), []


def _find(accounts: list[_Account], key: str) -> _Account | None:
    if key.isdigit():
        return next((a for a in accounts if a.id == int(key)), None)
    return next((a for a in accounts if a.name == key), None)


def _read_accounts(fs: ImageFilesystem, path: str) -> list[_Account]:
    """Parse /etc/passwd (name:x:uid:gid:...) or /etc/group (name:x:gid:members)."""
    text = fs.read_text(path) or ""
    accounts = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or not fields[2].isdigit() or line.startswith("#"):
            continue
        if path.endswith("passwd"):
            if len(fields) < 4 or not fields[3].isdigit():
                continue
            accounts.append(_Account(fields[0], int(fields[2]), int(fields[3])))
        else:
            members = fields[3].split(",") if len(fields) > 3 else []
            accounts.append(
                _Account(
                    fields[0], int(fields[2]), members=tuple(filter(None, members))
                )
            )
    return accounts
