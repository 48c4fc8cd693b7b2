"""Witness policies: which witnesses a verifier trusts, and which of them must cosign (k of n, in groups).

The file ``provledger verify --witness-policy FILE`` reads is the **Sigsum policy file format**
(sigsum-go ``doc/policy.md``), with witness keys written as C2SP signed-note verifier keys, as
``filippo.io/torchwood``'s ``ParsePolicy`` and Tessera's witness policies write them::

    # Two participants of the federation; both must cosign.
    witness hospital-a  hospital-a.example/witness+1b2c3d4e+BOm3...   # a C2SP vkey of type 0x04
    witness hospital-b  hospital-b.example/witness+5f6a7b8c+BPq9...
    group   participants all hospital-a hospital-b
    quorum  participants

    >>> from provledger.ledger.cosignature import cosigner
    >>> from provledger.ledger.keys import SigningKey
    >>> a, b = (cosigner(SigningKey.from_seed(f"w{i}.example", bytes([i]) * 32)) for i in (1, 2))
    >>> policy = parse_witness_policy(
    ...     f"witness a {a.verifier_key_string()}\\nwitness b {b.verifier_key_string()}\\n"
    ...     "group both all a b\\nquorum both\\n"
    ... )
    >>> policy.evaluate({"a"}).met, policy.evaluate({"a", "b"}).met
    (False, True)

Why this format: it is the one published format with k-of-n groups for cosigned checkpoints, and
its Appendix A recommends it for C2SP checkpoints; transparency-dev's witness-network lists
(``logs/v0``, ``vkey``/``origin``/``qpd`` lines) say which logs a *witness* follows, not which
cosignatures a *verifier* requires. Sigsum writes raw hex Ed25519 keys, which name no signer; a
C2SP cosignature line is found by key name and key id, so a vkey (``<name>+<id>+<base64(0x04 ||
key)>``, what ``provledger witness keys`` prints) is the natural spelling, as torchwood chose. A
Sigsum-style 64-hex key is read too, following the spec's Appendix A: the witness name is then its
key name.

The lines (items separated by spaces or tabs, ``#`` starts a comment; SPEC, sigsum policy.md):

- ``witness <name> <key> [<url>]``: "Duplicate witnesses, i.e., multiple witness lines with the
  same public key, are not allowed." (Also under another key name: an Ed25519 cosignature does
  not sign its cosigner's name, so one signature would count twice.) The URL is accepted and
  unused (verification is offline).
- ``group <name> <k>|all|any <member>...``: met when at least k of its n members are; "any" is
  k = 1, "all" is k = n. "A line defining a group can only reference names of groups and
  witnesses defined on preceding lines" (which rules out cycles); "Each defined name can be
  listed as a member at most once."
- ``quorum <name>``: "A policy file must include exactly one quorum line", naming a witness or
  group defined before it. ``quorum none`` (no cosignature needed) is valid Sigsum but refused
  here: a policy that requires nothing would let ``--require witness`` pass on no witness at all.
- ``log <vkey> [<url>]``: optional; when present, the cosigned checkpoint must also carry a valid
  signature by one of these log keys (on top of ``--trusted-keys``, never instead of it).

Witnesses and groups share one namespace, in which ``none`` is predefined. Only tab and newline
are allowed as control characters. Every error names its line and what to change, as a
:class:`~provledger.errors.ConfigurationError` (the policy is the user's configuration);
:meth:`WitnessPolicy.evaluate` only reports, and the receipt check turns an unmet quorum into a
:class:`~provledger.errors.VerificationError`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from provledger.errors import ConfigurationError, VerificationError
from provledger.ledger.cosignature import CosignatureVerifier
from provledger.ledger.keys import ED25519_KEY_SIZE, VerifierKey, check_key_name

#: The predefined name of the empty group (SPEC: sigsum policy.md "the predefined name `none`").
NONE: Final = "none"
#: Bounds on a policy, far above any real federation (Sigsum's Appendix B asks for at least 32 of
#: each), so a hostile file cannot make verification slow.
MAX_WITNESSES: Final = 1024
MAX_GROUPS: Final = 1024
_HEX_KEY: Final = re.compile(f"[0-9a-fA-F]{{{2 * ED25519_KEY_SIZE}}}")
_THRESHOLD: Final = re.compile(r"[1-9][0-9]{0,5}")
_FIELD_SEPARATORS: Final = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    """One ``witness`` line: the name the policy uses for it, and the key its cosignatures verify under."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None

    def describe(self) -> str:
        """``<policy name>`` or ``<policy name> (<key name>)`` when the two differ."""
        if self.name == self.verifier.name:
            return self.name
        return f"{self.name} ({self.verifier.name})"


@dataclass(frozen=True, slots=True)
class PolicyGroup:
    """One ``group`` line: met when at least ``threshold`` of ``members`` (witnesses or groups) are."""

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= len(self.members):
            raise ValueError(
                f"group {self.name!r} needs 1 to {len(self.members)} of its members, not {self.threshold}"
            )


@dataclass(frozen=True, slots=True)
class QuorumOutcome:
    """Whether the quorum is met by the cosigners given, and in words why (for the verify report)."""

    met: bool
    detail: str


@dataclass(frozen=True)
class WitnessPolicy:
    """A parsed policy: its witnesses, its groups in definition order, the quorum and optional logs.

    Built by :func:`parse_witness_policy`, which checks every rule with line numbers; the
    constructor rechecks the structure so a policy built in code cannot be looser.
    """

    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str
    logs: tuple[VerifierKey, ...] = ()
    _by_key: Mapping[tuple[str, bytes], PolicyWitness] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        defined: set[str] = set()
        for witness in self.witnesses:
            _define(defined, witness.name)
        used: set[str] = set()
        for group in self.groups:
            for member in group.members:
                if member not in defined or member in used:
                    raise ValueError(f"group {group.name!r} member {member!r} is undefined or reused")
                used.add(member)
            _define(defined, group.name)
        if self.quorum not in defined:
            raise ValueError(f"quorum {self.quorum!r} is not a witness or group of the policy")
        # SPEC: C2SP tlog-cosignature: "The Ed25519 signed message format doesn't commit to the
        # cosigner name, so the same public key can't be used across multiple cosigners": one
        # signature under two names would count twice towards a quorum.
        if len({w.verifier.public_key for w in self.witnesses}) != len(self.witnesses):
            raise ValueError("two witnesses of the policy have the same key")
        by_key = {(w.verifier.name, w.verifier.key_id): w for w in self.witnesses}
        object.__setattr__(self, "_by_key", by_key)

    def witness_for(self, key_name: str, key_id: bytes) -> PolicyWitness | None:
        """The policy witness a cosignature line by ``key_name`` and ``key_id`` claims to be, if any."""
        return self._by_key.get((key_name, key_id))

    def evaluate(self, cosigned: Collection[str]) -> QuorumOutcome:
        """Whether the witnesses named in ``cosigned`` (policy names) meet the quorum.

        Groups are evaluated in definition order, so each reads only names already decided
        (no recursion, however deep the nesting).
        """
        met = {w.name: w.name in cosigned for w in self.witnesses}
        for group in self.groups:
            met[group.name] = sum(met[m] for m in group.members) >= group.threshold
        have = sorted(w.name for w in self.witnesses if met[w.name])
        lacking = sorted(w.name for w in self.witnesses if not met[w.name])
        cosigners = f"cosigned by {', '.join(have) or 'no policy witness'}"
        if met[self.quorum]:
            return QuorumOutcome(True, f"quorum {self.quorum!r} met: {cosigners}")
        needs = self._needs(self.quorum)
        return QuorumOutcome(
            False, f"quorum {self.quorum!r} not met ({needs}): {cosigners}; missing {', '.join(lacking)}"
        )

    def _needs(self, name: str) -> str:
        group = next((g for g in self.groups if g.name == name), None)
        if group is None:
            return f"it needs witness {name!r}"
        return f"it needs {group.threshold} of {', '.join(group.members)}"

    def to_text(self) -> str:
        """The policy as a file :func:`parse_witness_policy` reads back to an equal policy."""
        lines = [f"log {log.verifier_key_string()}" for log in self.logs]
        for witness in self.witnesses:
            url = f" {witness.url}" if witness.url else ""
            lines.append(f"witness {witness.name} {witness.verifier.verifier_key_string()}{url}")
        lines.extend(f"group {g.name} {g.threshold} {' '.join(g.members)}" for g in self.groups)
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines)


def _define(defined: set[str], name: str) -> None:
    if name == NONE or name in defined or not name or _FIELD_SEPARATORS.search(name) or "#" in name:
        raise ValueError(f"name {name!r} is reserved, repeated or not one item")
    defined.add(name)


class _Parser:
    """One pass over the lines, checking each as Sigsum's parser does, with reasons a user can act on."""

    def __init__(self, later: Mapping[str, int], edges: Mapping[str, list[str]]) -> None:
        #: Where each name is first defined in the whole file, and each group's members, so a
        #: forward reference or a cycle is named as such.
        self.later, self.edges = later, edges
        self.witnesses: list[PolicyWitness] = []
        self.groups: list[PolicyGroup] = []
        self.logs: list[VerifierKey] = []
        self.quorum: str | None = None
        #: Where each name was defined, and where each was used as a member.
        self.defined: dict[str, int] = {}
        self.member_of: dict[str, tuple[str, int]] = {}
        self.keys: dict[bytes, int] = {}

    def line(self, number: int, fields: list[str]) -> None:
        keyword, args = fields[0], fields[1:]
        if keyword == "witness":
            self.witness(number, args)
        elif keyword == "group":
            self.group(number, args)
        elif keyword == "quorum":
            self.set_quorum(number, args)
        elif keyword == "log":
            self.log(number, args)
        else:
            raise _error(number, f"unknown keyword {keyword!r}: a line is log, witness, group or quorum")

    def define(self, number: int, name: str) -> None:
        if name == NONE:
            raise _error(number, f"{NONE!r} is predefined (the empty group): choose another name")
        if name in self.defined:
            raise _error(number, f"name {name!r} is already defined on line {self.defined[name]}")
        self.defined[name] = number

    def witness(self, number: int, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise _error(number, "a witness line is 'witness <name> <key> [<url>]'")
        name, key_text = args[0], args[1]
        verifier = _witness_key(number, name, key_text)
        if verifier.public_key in self.keys:
            first = self.keys[verifier.public_key]
            raise _error(number, f"witness {name!r} has the same key as the witness on line {first}")
        if len(self.witnesses) == MAX_WITNESSES:
            raise _error(number, f"more than {MAX_WITNESSES} witnesses")
        self.define(number, name)
        self.keys[verifier.public_key] = number
        self.witnesses.append(PolicyWitness(name, verifier, args[2] if len(args) == 3 else None))

    def group(self, number: int, args: list[str]) -> None:
        if len(args) < 3:
            raise _error(number, "a group line is 'group <name> <k>|all|any <member>...', members not empty")
        name, threshold_text, members = args[0], args[1], args[2:]
        self.define(number, name)
        for member in members:
            self.member(number, name, member)
        if threshold_text == "any":
            threshold = 1
        elif threshold_text == "all":
            threshold = len(members)
        elif _THRESHOLD.fullmatch(threshold_text) and int(threshold_text) <= len(members):
            threshold = int(threshold_text)
        else:
            raise _error(
                number,
                f"group {name!r} threshold {threshold_text!r} is out of range: k is a number from 1 to "
                f"{len(members)} (its member count), any or all",
            )
        if len(self.groups) == MAX_GROUPS:
            raise _error(number, f"more than {MAX_GROUPS} groups")
        self.groups.append(PolicyGroup(name, threshold, tuple(members)))

    def member(self, number: int, group: str, member: str) -> None:
        cycle = _cycle(group, member, self.edges) if member == group or member not in self.defined else None
        if cycle:
            raise _error(number, f"groups form a cycle ({' -> '.join(cycle)}): a group cannot contain itself")
        if member == NONE:
            raise _error(number, f"group {group!r} lists {NONE!r}, the empty group: remove it")
        if member not in self.defined:
            if member in self.later:
                raise _error(
                    number,
                    f"group {group!r} lists {member!r}, defined only later on line {self.later[member]}: "
                    "define members before the groups that use them",
                )
            raise _error(number, f"group {group!r} lists {member!r}, which no witness or group line defines")
        if member in self.member_of:
            where, at = self.member_of[member]
            raise _error(
                number,
                f"{member!r} is already a member of group {where!r} on line {at}: "
                "each name may be listed as a member at most once",
            )
        self.member_of[member] = (group, number)

    def set_quorum(self, number: int, args: list[str]) -> None:
        if len(args) != 1:
            raise _error(number, "a quorum line is 'quorum <name>' (one witness or group)")
        if self.quorum is not None:
            raise _error(number, "a second quorum line: a policy has exactly one")
        name = args[0]
        if name == NONE:
            raise _error(
                number,
                "'quorum none' requires no cosignature at all, so it proves nothing: "
                "name the witness or group whose cosignatures you require",
            )
        if name not in self.defined:
            where = f"defined only later on line {self.later[name]}" if name in self.later else "not defined"
            raise _error(number, f"quorum {name!r} is {where}: define it before the quorum line")
        self.quorum = name

    def log(self, number: int, args: list[str]) -> None:
        if len(args) not in (1, 2):
            raise _error(number, "a log line is 'log <vkey> [<url>]'")
        try:
            key = VerifierKey.parse(args[0])
        except (ValueError, VerificationError) as exc:
            raise _error(
                number,
                f"log key is not a C2SP Ed25519 verifier key (<name>+<id>+<key>, type 0x01) "
                f"as `provledger keys generate` prints: {exc}",
            ) from exc
        if key in self.logs:
            raise _error(number, f"log {key.name!r} is listed twice")
        self.logs.append(key)


def _error(number: int, reason: str) -> ConfigurationError:
    return ConfigurationError(f"witness policy line {number}: {reason}")


def _witness_key(number: int, name: str, text: str) -> CosignatureVerifier:
    """A witness key: a C2SP vkey of type 0x04, or (Sigsum Appendix A) 64 hex digits named ``name``."""
    if _HEX_KEY.fullmatch(text):
        try:
            return CosignatureVerifier(check_key_name(name), bytes.fromhex(text))
        except ValueError as exc:
            raise _error(
                number, f"witness {name!r} with a hex key must be named by its key name: {exc}"
            ) from exc
    try:
        return CosignatureVerifier.parse(text)
    except (ValueError, VerificationError) as exc:
        raise _error(
            number,
            f"witness {name!r} key is not a cosignature/v1 verifier key "
            f"(<name>+<id>+<base64(0x04 || key)>, as `provledger witness keys` prints) "
            f"nor 64 hex digits: {exc}",
        ) from exc


def _fields(text: str) -> Iterable[tuple[int, list[str]]]:
    """The non-empty lines as (line number, items), comments stripped, control characters refused."""
    for number, raw in enumerate(text.split("\n"), 1):
        bad = next((c for c in raw if (c < " " and c != "\t") or c == "\x7f"), None)
        if bad is not None:
            hint = ": save the file with Unix line endings" if bad == "\r" else ""
            raise _error(
                number, f"control character U+{ord(bad):04X} (only tab and newline are allowed){hint}"
            )
        items = [item for item in _FIELD_SEPARATORS.split(raw.partition("#")[0]) if item]
        if items:
            yield number, items


def _cycle(group: str, member: str, edges: Mapping[str, list[str]]) -> list[str] | None:
    """The path ``group -> member -> ... -> group`` through the file's group lines, if there is one."""
    stack: list[tuple[str, list[str]]] = [(member, [group, member])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name == group:
            return path
        if name in seen:
            continue
        seen.add(name)
        stack.extend((child, [*path, child]) for child in edges.get(name, ()))
    return None


def parse_witness_policy(text: str) -> WitnessPolicy:
    """Parse a policy file's text strictly; :class:`ConfigurationError` names the line and the fix."""
    lines = list(_fields(text))
    # A first look at every definition, so a forward reference or a cycle is named as such.
    later: dict[str, int] = {}
    edges: dict[str, list[str]] = {}
    for number, items in lines:
        if items[0] in ("witness", "group") and len(items) > 1:
            later.setdefault(items[1], number)
        if items[0] == "group" and len(items) > 3:
            edges.setdefault(items[1], items[3:])
    parser = _Parser(later, edges)
    for number, items in lines:
        parser.line(number, items)
    if parser.quorum is None:
        raise ConfigurationError(
            "witness policy has no quorum line: add 'quorum <name>' naming the witness or group "
            "whose cosignatures you require"
        )
    return WitnessPolicy(tuple(parser.witnesses), tuple(parser.groups), parser.quorum, tuple(parser.logs))
