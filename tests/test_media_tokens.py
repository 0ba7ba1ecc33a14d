"""HMAC tokens and the user directory."""

import json

import pytest

from media_bench.server.tokens import TokenError, TokenSigner
from media_bench.server.users import UserDirectory


def test_token_round_trip() -> None:
    signer = TokenSigner(b"k", ttl=60)
    assert signer.verify(signer.issue("alice")) == "alice"


def test_forged_and_foreign_tokens_are_refused() -> None:
    signer = TokenSigner(b"k", ttl=60)
    token = signer.issue("alice")
    mac = token.partition(".")[2]
    other_body = signer.issue("mallory").partition(".")[0]
    with pytest.raises(TokenError, match="signature"):
        signer.verify(f"{other_body}.{mac}")
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(b"other").verify(token)
    with pytest.raises(TokenError, match="malformed"):
        signer.verify("no-dot-here")


def test_expired_token_is_refused() -> None:
    signer = TokenSigner(b"k", ttl=10)
    token = signer.issue("alice", now=1000.0)
    assert signer.verify(token, now=1009.0) == "alice"
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, now=1010.0)


def test_generated_directory_is_seeded_and_heavy_tailed() -> None:
    a = UserDirectory.generate(5000, seed=3)
    b = UserDirectory.generate(5000, seed=3)
    counts = sorted(u.followers for u in a.all())
    assert [u.followers for u in a.all()] == [u.followers for u in b.all()]
    median = counts[len(counts) // 2]
    assert 20 < median < 200
    assert counts[-1] > 20 * median  # a long right tail: some users can host


def test_directory_from_csv_and_json(tmp_path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("id,followers\nann,700\nben,3\n")
    users = UserDirectory.load(csv_file)
    assert users.get("ann") is not None and users.get("ann").followers == 700  # type: ignore[union-attr]
    json_file = tmp_path / "users.json"
    json_file.write_text(json.dumps([{"id": "cy", "followers": 9}]))
    assert len(UserDirectory.load(json_file)) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("id,followers\nx,lots\n")
    with pytest.raises(ValueError, match="user 1"):
        UserDirectory.load(bad)
