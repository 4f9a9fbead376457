"""API keys on a running server: revoking keys never opens the API, the key file is private, keyless is loopback
only."""

from __future__ import annotations

import stat

import httpx
import pytest

from .conftest import cli, flat


def make_keys(path, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        r = cli("keys", "create", f"client{i + 1}", "--keys", str(path))
        assert r.returncode == 0, r.stderr
        tokens.append(r.stdout.strip())
    return tokens


def test_revoking_the_last_live_key_keeps_the_api_locked(start_server, tmp_path):
    keys = tmp_path / "keys.db"
    tokens = make_keys(keys, 3)
    assert cli("keys", "revoke", "2", "--keys", str(keys)).returncode == 0
    srv = start_server("--keys", str(keys), "--gallery", str(tmp_path / "g.db"), name="revoke")
    ok = {"X-API-Key": tokens[0]}
    assert httpx.get(srv.url + "/v1/people", headers=ok).status_code == 200
    assert httpx.get(srv.url + "/v1/people").status_code == 401
    for key_id in ("1", "3"):  # what an operator does after a leak, while the server runs
        revoked = cli("keys", "revoke", key_id, "--keys", str(keys))
        assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(srv.url + "/v1/people").status_code == 401
    assert httpx.get(srv.url + "/v1/people", headers=ok).status_code == 401  # the revoked token too
    r = httpx.post(srv.url + "/v1/people", data={"name": "mallory"}, files={"images": ("a.jpg", b"x", "image/jpeg")})
    assert r.status_code == 401
    assert httpx.delete(srv.url + "/v1/people/anyone").status_code == 401
    assert httpx.get(srv.url + "/v1/events").status_code == 401
    assert "no live key is left" in flat(revoked.stderr)  # the last revocation said what it means
    # a restart does not open it either: the setting is stored, not inferred from live keys
    again = start_server("--keys", str(keys), "--gallery", str(tmp_path / "g.db"), name="revoke-restart")
    assert httpx.get(again.url + "/v1/people").status_code == 401
    assert "keys required: on (0 live keys)" in cli("keys", "require", "--keys", str(keys)).stdout


def test_the_key_file_is_private(tmp_path):
    keys = tmp_path / "sub" / "keys.db"
    make_keys(keys, 1)
    for f in [keys, *keys.parent.glob("keys.db-*")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    old = tmp_path / "old.db"  # a file left world-readable by an older version is narrowed when opened
    make_keys(old, 1)
    old.chmod(0o644)
    assert cli("keys", "list", "--keys", str(old)).returncode == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


@pytest.mark.parametrize("flags", [["--no-keys"], []], ids=["--no-keys", "no key created"])
def test_keyless_on_a_network_address_is_refused(tmp_path, flags):
    r = cli("serve", "--host", "0.0.0.0", "--port", "1", "--keys", str(tmp_path / "k.db"), *flags, timeout=60)
    assert r.returncode != 0
    assert "refusing to serve without API keys on 0.0.0.0" in flat(r.stderr) and "Traceback" not in r.stderr


def test_keyless_on_a_network_address_can_be_forced_loudly(start_server, tmp_path):
    srv = start_server("--no-keys", "--insecure-keyless-network", "--keys", str(tmp_path / "k.db"), host="0.0.0.0")
    assert httpx.get(srv.url + "/healthz").status_code == 200
    assert "WITHOUT API keys" in srv.log()
