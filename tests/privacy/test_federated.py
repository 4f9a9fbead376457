"""Federated training with Flower: the Dirichlet split, the in-process engine with a robust strategy and DP on the
updates, and a real server with client processes over loopback gRPC."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("flwr")

from emolens.train.federated import FederatedConfig, dirichlet_split, train_federated

EMOLENS = str(Path(sys.executable).with_name("emolens"))


def test_dirichlet_split_is_a_skewed_partition() -> None:
    y = np.repeat(np.arange(7), 300)
    parts = dirichlet_split(y, 10, 0.5, seed=1)
    joined = np.concatenate(parts)
    assert len(joined) == len(y) and len(np.unique(joined)) == len(y)  # every row once
    shares = np.array([np.bincount(y[p], minlength=7) / max(len(p), 1) for p in parts])
    iid = np.array([np.bincount(y[p], minlength=7) / len(p) for p in dirichlet_split(y, 10, 0.0, seed=1)])
    # label skew: the clients' class shares stray far from the uniform 1/7 that an IID split keeps
    assert np.abs(shares - 1 / 7).max() > 0.3 and np.abs(iid - 1 / 7).max() < 0.05
    assert all(len(p) > 0 for p in parts)


def test_in_process_rounds_with_fedmedian_and_dp(tmp_path, data_dir) -> None:
    from emolens.train.config import preset

    cfg = preset("small-test", norm="group", threads=1, limit_train=192)
    fed = FederatedConfig(clients=3, rounds=2, strategy="fedmedian", dp_noise=0.5, clip=0.5)
    reports = list(train_federated(cfg, fed, tmp_path, data_dir))
    assert [r["round"] for r in reports] == [1, 2]
    assert all(0 <= r["val_accuracy"] <= 1 for r in reports)
    info = json.loads((tmp_path / "federated.json").read_text())
    assert info["strategy"] == "fedmedian" and sum(map(sum, info["client_class_counts"])) == 192
    assert (tmp_path / "last.pt").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_and_client_processes_on_loopback(tmp_path, data_dir) -> None:
    address = f"127.0.0.1:{_free_port()}"
    common = [
        "train",
        "--config",
        "small-test",
        "--set",
        "limit_train=128",
        "--set",
        "threads=1",
        "--federated",
        "--clients",
        "2",
        "--rounds",
        "1",
        "--strategy",
        "fedavg",
        "--address",
        address,
        "--data",
        str(data_dir),
        "-q",
    ]
    server = subprocess.Popen(
        [EMOLENS, *common, "--role", "server", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    clients = [
        subprocess.Popen(
            [EMOLENS, *common, "--role", "client", "--cid", str(k)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(2)
    ]
    try:
        out, _ = server.communicate(timeout=600)
        assert server.returncode == 0, out
        for c in clients:
            c.wait(timeout=120)
    finally:
        for p in (server, *clients):
            if p.poll() is None:
                p.kill()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1] and "round   1/1" in out


def test_krum_keeps_the_updates_closest_to_their_neighbours(tmp_path, data_dir) -> None:
    from emolens.train.config import preset

    cfg = preset("small-test", norm="group", threads=1, limit_train=128)
    reports = list(train_federated(cfg, FederatedConfig(clients=4, rounds=1, strategy="krum"), tmp_path, data_dir))
    assert [r["round"] for r in reports] == [1] and 0 <= reports[0]["val_accuracy"] <= 1
