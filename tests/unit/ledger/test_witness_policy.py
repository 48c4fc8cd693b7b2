"""Witness policy files: the Sigsum format with C2SP vkeys, every malformed line named, quorum logic checked.

The malformed cases follow the rules of sigsum-go's doc/policy.md one by one; the quorum is
cross-checked against an obviously correct recursive reference over random group trees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provledger.errors import ConfigurationError
from provledger.ledger import witness_policy
from provledger.ledger.cosignature import CosignatureVerifier, cosigner
from provledger.ledger.keys import SigningKey
from provledger.ledger.witness_policy import PolicyGroup, PolicyWitness, WitnessPolicy, parse_witness_policy


def _witness_key(name: str, seed: int) -> CosignatureVerifier:
    return cosigner(SigningKey.from_seed(name, bytes([seed]) * 32))


KEYS = {name: _witness_key(f"{name}.example/witness", seed) for seed, name in enumerate("abcdefXYZ", 1)}
LOG = SigningKey.from_seed("ledger.example/log", b"\x42" * 32).verifier


def vkey(name: str) -> str:
    return KEYS[name].verifier_key_string()


def witnesses(*names: str) -> str:
    return "".join(f"witness {name} {vkey(name)}\n" for name in names)


SIGSUM_EXAMPLE = (
    # The example of sigsum-go doc/policy.md, keys filled in: 2 of the X witnesses and 1 of the Y.
    f"log {LOG.verifier_key_string()}\n"
    "witness X1 " + vkey("a") + "\nwitness X2 " + vkey("b") + "\nwitness X3 " + vkey("c") + "\n"
    "group X-witnesses 2 X1 X2 X3\n\n"
    "witness Y1 " + vkey("d") + "\nwitness Y2 " + vkey("e") + "\nwitness Y3 " + vkey("f") + "\n"
    "group Y-witnesses any Y1 Y2 Y3\n\n"
    "group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n"
)


def test_the_sigsum_example_reads_and_means_two_x_and_one_y() -> None:
    policy = parse_witness_policy(SIGSUM_EXAMPLE)
    assert [w.name for w in policy.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert policy.groups[-1] == PolicyGroup("X-and-Y", 2, ("X-witnesses", "Y-witnesses"))
    assert policy.logs == (LOG,)
    assert policy.evaluate({"X1", "X3", "Y2"}).met
    assert not policy.evaluate({"X1", "Y1", "Y2", "Y3"}).met
    assert not policy.evaluate({"X1", "X2", "X3"}).met
    outcome = policy.evaluate({"X1"})
    assert outcome.detail == (
        "quorum 'X-and-Y' not met (it needs 2 of X-witnesses, Y-witnesses): cosigned by X1; "
        "missing X2, X3, Y1, Y2, Y3"
    )


def test_comments_tabs_urls_and_a_single_witness_quorum() -> None:
    text = (
        "# the federation's witnesses\n"
        f"\twitness  a\t{vkey('a')}  https://a.example/witness   # hospital A\n"
        "\n   \n"
        "quorum a # only A\n"
    )
    policy = parse_witness_policy(text)
    assert policy.witnesses == (PolicyWitness("a", KEYS["a"], "https://a.example/witness"),)
    assert policy.evaluate({"a"}).met
    assert policy.evaluate({"a"}).detail == "quorum 'a' met: cosigned by a"
    assert not policy.evaluate({"b"}).met
    assert "it needs witness 'a'" in policy.evaluate(set()).detail


def test_a_sigsum_hex_key_is_named_by_the_witness_name() -> None:
    # Sigsum Appendix A: "Use witness names corresponding to the key names used in the
    # corresponding checkpoint cosignature lines".
    key = KEYS["a"]
    policy = parse_witness_policy(f"witness {key.name} {key.public_key.hex()}\nquorum {key.name}\n")
    assert policy.witnesses[0].verifier == key
    assert policy.witness_for(key.name, key.key_id) == policy.witnesses[0]
    assert policy.witness_for("a.example/other", key.key_id) is None


def test_any_all_and_numbers_set_the_threshold() -> None:
    base = witnesses("a", "b", "c")
    for spelled, k in (("any", 1), ("all", 3), ("2", 2), ("3", 3), ("1", 1)):
        policy = parse_witness_policy(base + f"group g {spelled} a b c\nquorum g\n")
        assert policy.groups == (PolicyGroup("g", k, ("a", "b", "c")),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no quorum line"),
        ("# only a comment\n", "no quorum line"),
        (witnesses("a"), "no quorum line"),
        ("witnesses a x\nquorum a\n", "line 1: unknown keyword 'witnesses'"),
        ("Witness a x\n", "line 1: unknown keyword"),
        ("witness a\n", "line 1: a witness line is"),
        (f"witness a {vkey('a')} https://a.example extra\n", "line 1: a witness line is"),
        ("witness a not-a-key\n", "line 1: witness 'a' key is not a cosignature/v1 verifier key"),
        (f"witness a {LOG.verifier_key_string()}\n", "not a cosignature/v1 verifier key"),
        (f"witness a {vkey('a')[:-2]}==\n", "line 1: witness 'a' key is not"),
        ("witness a " + "ab" * 31 + "\n", "key is not a cosignature/v1"),
        (f"witness bad+name {'ab' * 32}\nquorum bad+name\n", "hex key must be named by its key name"),
        (witnesses("a") + f"witness a {vkey('b')}\n", "line 2: name 'a' is already defined on line 1"),
        (
            witnesses("a") + f"witness b {vkey('a')}\n",
            "line 2: witness 'b' has the same key as the witness on line 1",
        ),
        (f"witness none {vkey('a')}\n", "line 1: 'none' is predefined"),
        (witnesses("a") + "group g any\n", "line 2: a group line is"),
        (witnesses("a") + "group g\n", "line 2: a group line is"),
        (witnesses("a", "b") + "group g 0 a b\n", "line 3: group 'g' threshold '0' is out of range"),
        (witnesses("a", "b") + "group g 3 a b\n", "threshold '3' is out of range: k is a number from 1 to 2"),
        (witnesses("a", "b") + "group g -1 a b\n", "threshold '-1' is out of range"),
        (witnesses("a", "b") + "group g 01 a b\n", "threshold '01' is out of range"),
        (witnesses("a", "b") + "group g two a b\n", "threshold 'two' is out of range"),
        (witnesses("a", "b") + "group g ALL a b\n", "threshold 'ALL' is out of range"),
        (witnesses("a") + "group g any a c\n", "line 2: group 'g' lists 'c', which no witness or group line"),
        (
            witnesses("a") + "group g any a b\n" + f"witness b {vkey('b')}\n",
            "line 2: group 'g' lists 'b', defined only later on line 3: define members before",
        ),
        (witnesses("a") + "group g any g\n", "line 2: groups form a cycle (g -> g)"),
        (
            witnesses("a", "b") + "group g1 any a g2\ngroup g2 any b g1\nquorum g1\n",
            "line 3: groups form a cycle (g1 -> g2 -> g1)",
        ),
        (
            witnesses("a", "b") + "group g1 any a g2\ngroup g2 any g3\ngroup g3 all b g1\n",
            "groups form a cycle (g1 -> g2 -> g3 -> g1)",
        ),
        (witnesses("a", "b") + "group g 2 a a\n", "'a' is already a member of group 'g' on line 3"),
        (
            witnesses("a", "b") + "group g1 any a b\ngroup g2 any a\n",
            "line 4: 'a' is already a member of group 'g1' on line 3: each name may be listed",
        ),
        (witnesses("a") + "group g any a none\n", "line 2: group 'g' lists 'none', the empty group"),
        (witnesses("a") + "group a any a\n", "line 2: name 'a' is already defined on line 1"),
        (witnesses("a") + "quorum a\nquorum a\n", "line 3: a second quorum line"),
        (witnesses("a") + "quorum none\n", "line 2: 'quorum none' requires no cosignature"),
        ("quorum none\n", "'quorum none' requires no cosignature at all, so it proves nothing"),
        (witnesses("a") + "quorum b\n", "line 2: quorum 'b' is not defined"),
        ("quorum a\n" + witnesses("a"), "line 1: quorum 'a' is defined only later on line 2"),
        (witnesses("a") + "quorum\n", "line 2: a quorum line is"),
        (witnesses("a") + "quorum a b\n", "line 2: a quorum line is"),
        ("log nope\n", "line 1: log key is not a C2SP Ed25519 verifier key"),
        (f"log {vkey('a')}\n", "line 1: log key is not a C2SP Ed25519 verifier key"),
        (
            f"log {LOG.verifier_key_string()}\nlog {LOG.verifier_key_string()}\n",
            "line 2: log 'ledger.example/",
        ),
        ("log\n", "line 1: a log line is"),
        (
            witnesses("a") + "quorum a\r\n",
            "line 2: control character U+000D (only tab and newline are allowed)",
        ),
        (witnesses("a") + "quorum a\r\n", "save the file with Unix line endings"),
        ("witness a\x00 x\n", "line 1: control character U+0000"),
        ("# \x1b[31m\n", "line 1: control character U+001B"),
    ],
)
def test_every_malformed_policy_names_its_line_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigurationError) as failure:
        parse_witness_policy(text)
    assert reason in str(failure.value)


def test_bounds_on_witnesses_and_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(witness_policy, "MAX_WITNESSES", 2)
    monkeypatch.setattr(witness_policy, "MAX_GROUPS", 1)
    with pytest.raises(ConfigurationError, match="line 3: more than 2 witnesses"):
        parse_witness_policy(witnesses("a", "b", "c"))
    with pytest.raises(ConfigurationError, match="line 4: more than 1 groups"):
        parse_witness_policy(witnesses("a", "b") + "group g1 any a\ngroup g2 any b\n")


def test_a_policy_built_in_code_is_held_to_the_same_rules() -> None:
    a, b = PolicyWitness("a", KEYS["a"]), PolicyWitness("b", KEYS["b"])
    with pytest.raises(ValueError, match="quorum"):
        WitnessPolicy((a,), (), "b")
    with pytest.raises(ValueError, match="reserved"):
        WitnessPolicy((PolicyWitness("none", KEYS["a"]),), (), "none")
    with pytest.raises(ValueError, match="undefined or reused"):
        WitnessPolicy((a, b), (PolicyGroup("g", 1, ("a", "a")),), "g")
    with pytest.raises(ValueError, match="same key"):
        WitnessPolicy((a, PolicyWitness("c", KEYS["a"])), (), "a")
    renamed = CosignatureVerifier("another.example/name", KEYS["a"].public_key)
    with pytest.raises(ValueError, match="same key"):
        WitnessPolicy((a, PolicyWitness("c", renamed)), (), "a")
    with pytest.raises(ValueError, match="needs 1 to 2"):
        PolicyGroup("g", 3, ("a", "b"))


def test_one_key_under_two_names_is_refused_since_its_signature_would_count_twice() -> None:
    key = KEYS["a"]
    text = f"witness a {key.verifier_key_string()}\nwitness other.example/w {key.public_key.hex()}\n"
    with pytest.raises(ConfigurationError) as failure:
        parse_witness_policy(text + "group g all a other.example/w\nquorum g\n")
    assert "line 2: witness 'other.example/w' has the same key as the witness on line 1" in str(failure.value)


# --- the quorum against a reference, over random policies -----------------------------------


@st.composite
def policies(draw: st.DrawFn) -> WitnessPolicy:
    """A random policy: 1-6 witnesses, then groups over names not yet used as members."""
    count = draw(st.integers(1, 6))
    names = [f"w{i}" for i in range(count)]
    ws = tuple(PolicyWitness(n, KEYS["abcdefXYZ"[i]]) for i, n in enumerate(names))
    free = list(names)
    groups: list[PolicyGroup] = []
    for number in range(draw(st.integers(0, 4))):
        if not free:
            break
        members = draw(st.lists(st.sampled_from(free), min_size=1, max_size=len(free), unique=True))
        k = draw(st.integers(1, len(members)))
        name = f"g{number}"
        groups.append(PolicyGroup(name, k, tuple(members)))
        free = [n for n in free if n not in members] + [name]
    quorum = draw(st.sampled_from([*names, *(g.name for g in groups)]))
    return WitnessPolicy(ws, tuple(groups), quorum)


def _reference(policy: WitnessPolicy, name: str, cosigned: set[str]) -> bool:
    """Obviously correct: a witness is met if it cosigned; a group if k of its members are."""
    group = next((g for g in policy.groups if g.name == name), None)
    if group is None:
        return name in cosigned
    return sum(_reference(policy, m, cosigned) for m in group.members) >= group.threshold


@given(policies(), st.sets(st.sampled_from([f"w{i}" for i in range(6)] + ["stranger"])))
def test_the_quorum_agrees_with_the_reference(policy: WitnessPolicy, cosigned: set[str]) -> None:
    assert policy.evaluate(cosigned).met == _reference(policy, policy.quorum, cosigned)


@given(policies(), st.sets(st.sampled_from([f"w{i}" for i in range(6)])), st.sampled_from(range(6)))
def test_one_more_cosignature_never_breaks_a_met_quorum(
    policy: WitnessPolicy, cosigned: set[str], extra: int
) -> None:
    if policy.evaluate(cosigned).met:
        assert policy.evaluate(cosigned | {f"w{extra}"}).met


@given(policies())
def test_all_witnesses_meet_any_quorum_and_none_meets_none(policy: WitnessPolicy) -> None:
    assert policy.evaluate({w.name for w in policy.witnesses}).met
    assert not policy.evaluate(set()).met


@given(policies())
def test_a_policy_written_out_reads_back_equal(policy: WitnessPolicy) -> None:
    assert parse_witness_policy(policy.to_text()) == policy


def test_the_readme_example_policy_reads_as_it_says() -> None:
    readme = Path(__file__).resolve().parents[3] / "README.md"
    if not readme.exists():
        pytest.skip(f"{readme} is not here")
    text = readme.read_text("utf-8")
    start = text.index("# witnesses.policy")
    policy = parse_witness_policy(text[start : text.index("```", start)])
    assert [w.verifier.name for w in policy.witnesses] == [
        "hospital-a.example/witness",
        "hospital-b.example/witness",
    ]
    assert policy.groups == (PolicyGroup("participants", 2, ("hospital-a", "hospital-b")),)
    assert not policy.evaluate({"hospital-a"}).met
    assert policy.evaluate({"hospital-a", "hospital-b"}).met
