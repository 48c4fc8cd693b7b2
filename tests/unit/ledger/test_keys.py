"""Ed25519 keys: C2SP key ids and verifier key strings, PEM round trips, and the trusted key set."""

from __future__ import annotations

import base64

import pytest
from tests.helpers.ledger_sealing import fixed_key
from tests.helpers.published_keys import GO_VKEY, SPEC_VKEY, go_signing_key

from provledger.errors import VerificationError
from provledger.ledger.keys import KeySet, SigningKey, TrustedKey, VerifierKey


def test_spec_verifier_key_parses_and_derives_its_key_id() -> None:
    key = VerifierKey.parse(SPEC_VKEY)
    assert key.name == "example.com/foo"
    assert key.key_id.hex() == "530d903a"
    assert key.verifier_key_string() == SPEC_VKEY


def test_go_example_keys_agree() -> None:
    key = go_signing_key()
    assert key.key_id.hex() == "c74f20a3"
    assert key.verifier.verifier_key_string() == GO_VKEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SPEC_VKEY.replace("530d903a", "530d903b"), "derives another"),
        (SPEC_VKEY.replace("530d903a", "530D903A"), "lowercase hex"),
        (SPEC_VKEY.replace("530d903a", "530d903"), "lowercase hex"),
        (SPEC_VKEY.replace("+Aeky", "+Akky"), "signature type 0x01"),
        (SPEC_VKEY[:-1], "base64"),
        (SPEC_VKEY[:-4], "29 key bytes"),
        ("example.com/foo+530d903a", "<name>"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "invalid name"),
        ("example.com/foo+530d903a+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "31 key bytes"),
    ],
)
def test_malformed_verifier_keys_are_rejected(text: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        VerifierKey.parse(text)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there", "nbsp\u00a0x"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        SigningKey.generate(name)


def test_pem_round_trips_and_generated_keys_sign() -> None:
    key = SigningKey.generate("ledger.example.com/log")
    loaded = SigningKey.from_pem(key.to_pem(), key.name)
    assert loaded.verifier == key.verifier
    assert VerifierKey.from_pem(key.verifier.to_pem(), key.name) == key.verifier
    assert loaded.verifier.verify(b"message", key.sign(b"message"))
    assert not loaded.verifier.verify(b"other", key.sign(b"message"))
    assert "_private" not in repr(key)


def test_pem_of_another_algorithm_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not Ed25519"):
        SigningKey.from_pem(pem, "k")


def test_an_empty_key_set_fails_closed() -> None:
    with pytest.raises(VerificationError, match="empty"):
        KeySet(())
    with pytest.raises(VerificationError, match="empty"):
        KeySet.from_json([])


def test_key_set_json_round_trip_keeps_validity() -> None:
    old, new = fixed_key(seed=1), fixed_key(seed=2)
    keyset = KeySet((TrustedKey(old.verifier, 0, 500), TrustedKey(new.verifier, 500)))
    assert KeySet.from_json(keyset.to_json()) == keyset
    with pytest.raises(VerificationError, match="is not"):
        KeySet.from_json([{"key": old.verifier.verifier_key_string(), "valid_from": "0"}])
    with pytest.raises(VerificationError, match="valid until"):
        KeySet.from_json([{"key": old.verifier.verifier_key_string(), "valid_from": 5, "valid_until": 5}])


def test_key_id_collisions_are_resolved_by_trying_each_valid_key() -> None:
    real = fixed_key(seed=1)
    keyset = KeySet((TrustedKey(fixed_key(seed=2).verifier), TrustedKey(real.verifier)))
    # Both keys share the name; pretend the ids collide by asking with the real id.
    assert keyset.verify(b"m", real.sign(b"m"), real.key_id, at=0).verifier == real.verifier
