"""Federated training with Flower: N clients each train on their own split; only weights travel.

Each client is a Flower ``NumPyClient`` that holds its split of the training set (a Dirichlet label skew over
the classes, or IID), trains the config's network for ``local_epochs`` per round with the training loop's
augmentation and loss, and sends back its weights; the server aggregates them with a Flower strategy:
``fedavg`` (weighted mean), ``fedmedian`` (coordinate-wise median, robust to a few bad clients) or ``krum``
(the update closest to its neighbours). ``dp_noise`` > 0 wraps the strategy in Flower's
``DifferentialPrivacyServerSideFixedClipping``: each client's update is clipped to ``clip`` and Gaussian noise of
``dp_noise · clip`` is added to their aggregate (central DP with a trusted server).

Two ways to run the same clients and strategy:

- in one process (:func:`train_federated`): Flower's ``Server`` drives its round loop and strategy over the
  clients held in-process (no Ray: Flower's Ray-based simulation extra pins an older Ray than the project's);
- as separate processes (:func:`run_server`, :func:`run_client`): a Flower server on an address and one process
  per client connecting to it over gRPC; on one machine (loopback) or across machines.

Batch norm mixes a client's batch statistics into the weights it sends and is a poor fit for skewed clients,
so federated runs use ``norm="group"``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emolens.errors import ConfigError, MissingExtraError

STRATEGIES = ("fedavg", "fedmedian", "krum")


@dataclass(frozen=True)
class FederatedConfig:
    clients: int = 10
    rounds: int = 5
    local_epochs: int = 1
    strategy: str = "fedavg"
    alpha: float = 0.5  # Dirichlet concentration of the label skew; 0 = IID
    dp_noise: float = 0.0  # noise multiplier on the clipped client updates (0 = off)
    clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if self.clients < 2 or self.rounds < 1 or self.local_epochs < 1:
            raise ConfigError("federated training needs at least 2 clients, 1 round and 1 local epoch")
        if self.alpha < 0 or self.dp_noise < 0 or self.clip <= 0:
            raise ConfigError("alpha and dp_noise must be ≥ 0 and clip > 0")


def _flwr():
    try:
        import flwr
    except ImportError:
        raise MissingExtraError("flwr", "privacy") from None
    return flwr


def dirichlet_split(y: np.ndarray, clients: int, alpha: float, seed: int = 0) -> list[np.ndarray]:
    """Indices of each client's split: for every class, its rows are shared among the clients in proportions drawn
    from Dirichlet(α) (α → 0: each class on few clients; large α: close to IID). ``alpha`` 0 gives an IID split.
    Every client gets at least one row."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if alpha == 0:
        return [np.sort(p) for p in np.array_split(rng.permutation(n), clients)]
    parts: list[list[int]] = [[] for _ in range(clients)]
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        share = rng.dirichlet(np.full(clients, alpha))
        cuts = (np.cumsum(share)[:-1] * len(rows)).astype(int)
        for k, chunk in enumerate(np.split(rows, cuts)):
            parts[k].extend(chunk.tolist())
    for k in range(clients):  # a client left empty takes one row from the largest
        if not parts[k]:
            big = max(range(clients), key=lambda j: len(parts[j]))
            parts[k].append(parts[big].pop())
    return [np.sort(np.array(p, np.int64)) for p in parts]


def get_weights(model: torch.nn.Module) -> list[np.ndarray]:
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values()]


def set_weights(model: torch.nn.Module, weights: list[np.ndarray]) -> None:
    keys = list(model.state_dict())
    if len(keys) != len(weights):
        raise ConfigError(f"received {len(weights)} tensors for a network of {len(keys)}")
    model.load_state_dict({k: torch.from_numpy(np.asarray(w)) for k, w in zip(keys, weights, strict=True)})


class _Data:
    """The run's training and validation tensors, prepared as the training loop prepares them."""

    def __init__(self, cfg: Any, root: Path) -> None:
        import torch.nn.functional as F

        from emolens.train.loop import Trainer, _to_tensor

        train, val = Trainer(cfg, Path("."), root)._load()
        self.x = _to_tensor(train.x, cfg.input_size)
        self.y = train.y
        self.t = (
            torch.from_numpy(train.soft)
            if train.soft is not None
            else F.one_hot(torch.from_numpy(train.y), cfg.num_classes).float()
        )
        self.xv = _to_tensor(val.x, cfg.input_size)
        self.yv = torch.from_numpy(val.y)


def _local_train(model, cfg, x, t, epochs: int, lr: float, gen: torch.Generator) -> float:
    """``epochs`` passes over one client's rows with the config's optimiser (AdamW, or SGD with Nesterov momentum),
    its state new each round as usual in federated training; returns the mean loss."""
    from emolens.train.augment import augment, mix
    from emolens.train.loop import _loss

    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    if cfg.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=lr,
            momentum=0.9,
            nesterov=True,
        )
    model.train()
    total, seen = 0.0, 0
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), cfg.batch_size):
            idx = perm[b : b + cfg.batch_size]
            if len(idx) < 2:
                continue
            xb, tb = mix(augment(x[idx], cfg.augment, gen), t[idx], cfg.augment, gen)
            loss = _loss(cfg, model((xb - cfg.mean) / cfg.std), tb, None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
    return total / max(seen, 1)


def round_lr(cfg: Any, fed: FederatedConfig, server_round: int) -> float:
    """The learning rate of a round: the config's rate on a cosine over the rounds (round 1 at the full rate)."""
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (server_round - 1) / fed.rounds))


def make_client(cfg: Any, fed: FederatedConfig, cid: int, data: _Data, rows: np.ndarray):
    """The Flower ``NumPyClient`` of client ``cid``, holding only its ``rows`` of the training set."""
    fl = _flwr()
    from emolens.train.loop import build_model

    x, t = data.x[rows], data.t[rows]

    class FaceClient(fl.client.NumPyClient):
        def __init__(self) -> None:
            self.model = build_model(cfg, pretrained=False)
            self.gen = torch.Generator().manual_seed(fed.seed * 1000 + cid)

        def get_parameters(self, config):
            return get_weights(self.model)

        def fit(self, parameters, config):
            set_weights(self.model, parameters)
            loss = _local_train(self.model, cfg, x, t, int(config["epochs"]), float(config["lr"]), self.gen)
            return get_weights(self.model), len(rows), {"loss": loss, "cid": cid}

        def evaluate(self, parameters, config):
            return 0.0, len(rows), {}

    return FaceClient()


def _evaluator(cfg: Any, data: _Data, log: list[dict], t0: list[float], run_dir: Path):
    from emolens.train.loop import _accuracy, build_model, evaluate_logits

    model = build_model(cfg, pretrained=False)

    def evaluate(server_round: int, parameters, config):
        import torch.nn.functional as F

        set_weights(model, parameters)
        logits = evaluate_logits(model, data.xv, cfg.augment.crop, cfg.mean, cfg.std)
        acc, loss = _accuracy(logits, data.yv), float(F.cross_entropy(logits, data.yv))
        if server_round > 0:
            rep = {"round": server_round, "val_accuracy": acc, "val_loss": loss, "seconds": time.time() - t0[0]}
            log.append(rep)
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rep) + "\n")
            torch.save(
                {"model": model.state_dict(), "epoch": server_round - 1, "val_accuracy": acc, "config": cfg.to_dict()},
                run_dir / "last.pt",
            )
            t0[0] = time.time()
        return loss, {"accuracy": acc}

    return evaluate


def make_strategy(cfg: Any, fed: FederatedConfig, initial: list[np.ndarray], evaluate_fn=None):
    """The Flower strategy the config names, over all clients each round, optionally with DP on the updates."""
    fl = _flwr()
    from flwr.common import ndarrays_to_parameters
    from flwr.server import strategy as st

    common = {
        "fraction_fit": 1.0,
        "fraction_evaluate": 0.0,
        "min_fit_clients": fed.clients,
        "min_available_clients": fed.clients,
        "initial_parameters": ndarrays_to_parameters(initial),
        "on_fit_config_fn": lambda r: {"lr": round_lr(cfg, fed, r), "epochs": fed.local_epochs},
        "evaluate_fn": evaluate_fn,
    }
    if fed.strategy == "fedmedian":
        strategy = st.FedMedian(**common)
    elif fed.strategy == "krum":
        # Krum keeps the update with the smallest distance to its n - f - 2 nearest neighbours; f = 1 tolerated
        # faulty client, and the mean of the 3 best (multi-Krum) to keep more of the honest clients' work.
        strategy = st.Krum(num_malicious_clients=1, num_clients_to_keep=3, **common)
    else:
        strategy = st.FedAvg(**common)
    if fed.dp_noise > 0:
        strategy = st.DifferentialPrivacyServerSideFixedClipping(
            strategy, noise_multiplier=fed.dp_noise, clipping_norm=fed.clip, num_sampled_clients=fed.clients
        )
    del fl
    return strategy


def _prepare(cfg: Any, fed: FederatedConfig, run_dir: Path, root: Path):
    from emolens.train.loop import build_model

    if cfg.dp_epsilon > 0:
        raise ConfigError("--federated takes DP on the client updates (--client-dp-noise), not --dp-epsilon")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = _Data(cfg, root)
    splits = dirichlet_split(data.y, fed.clients, fed.alpha, fed.seed)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    counts = [np.bincount(data.y[s], minlength=cfg.num_classes).tolist() for s in splits]
    (run_dir / "federated.json").write_text(json.dumps({**asdict(fed), "client_class_counts": counts}, indent=2) + "\n")
    initial = get_weights(build_model(cfg, pretrained=False))
    return data, splits, initial


def train_federated(cfg: Any, fed: FederatedConfig, run_dir: str | Path, data_root: str | Path) -> Iterator[dict]:
    """Run ``fed.rounds`` rounds with all ``fed.clients`` clients in this process through Flower's server loop;
    yields a report per round (validation accuracy of the aggregated weights) and writes ``metrics.jsonl``,
    ``federated.json`` and ``last.pt`` (the aggregated weights) to ``run_dir``."""
    _flwr()
    from flwr.server import Server
    from flwr.server.client_manager import SimpleClientManager

    run_dir = Path(run_dir)
    data, splits, initial = _prepare(cfg, fed, run_dir, Path(data_root))
    log: list[dict] = []
    t0 = [time.time()]
    strategy = make_strategy(cfg, fed, initial, _evaluator(cfg, data, log, t0, run_dir))
    manager = SimpleClientManager()
    proxy = _make_proxy_class()
    for cid, rows in enumerate(splits):
        manager.register(proxy(str(cid), make_client(cfg, fed, cid, data, rows).to_client()))
    server = Server(client_manager=manager, strategy=strategy)
    server.set_max_workers(1)
    server.parameters = strategy.initialize_parameters(manager)
    done = 0
    for r in range(1, fed.rounds + 1):
        _one_round(server, r)
        yield from log[done:]
        done = len(log)


def _one_round(server, r: int) -> None:
    """One round of Flower's server loop: sample, fit, aggregate (``Server.fit_round``), then evaluate centrally."""
    res = server.fit_round(server_round=r, timeout=None)
    if res is not None and res[0] is not None:
        server.parameters = res[0]
    server.strategy.evaluate(r, parameters=server.parameters)


def _make_proxy_class():
    from flwr.server.client_proxy import ClientProxy

    class InProcessProxy(ClientProxy):
        """A Flower client proxy that calls a client object in this process (what Flower's simulation does
        without Ray)."""

        def __init__(self, cid: str, client) -> None:
            super().__init__(cid)
            self.client = client

        def get_properties(self, ins, timeout, group_id):
            return self.client.get_properties(ins)

        def get_parameters(self, ins, timeout, group_id):
            return self.client.get_parameters(ins)

        def fit(self, ins, timeout, group_id):
            return self.client.fit(ins)

        def evaluate(self, ins, timeout, group_id):
            return self.client.evaluate(ins)

        def reconnect(self, ins, timeout, group_id):
            from flwr.common import DisconnectRes

            return DisconnectRes(reason="")

    return InProcessProxy


def run_server(cfg: Any, fed: FederatedConfig, run_dir: str | Path, data_root: str | Path, address: str) -> list[dict]:
    """A Flower server on ``address`` (``HOST:PORT``) that waits for ``fed.clients`` client processes and runs
    ``fed.rounds`` rounds; evaluates the aggregate on the validation split after each round."""
    fl = _flwr()
    from flwr.server import ServerConfig

    run_dir = Path(run_dir)
    data, _, initial = _prepare(cfg, fed, run_dir, Path(data_root))
    log: list[dict] = []
    strategy = make_strategy(cfg, fed, initial, _evaluator(cfg, data, log, [time.time()], run_dir))
    fl.server.start_server(server_address=address, config=ServerConfig(num_rounds=fed.rounds), strategy=strategy)
    return log


def run_client(cfg: Any, fed: FederatedConfig, cid: int, data_root: str | Path, address: str) -> None:
    """Client ``cid`` of ``fed.clients``: loads its own split (the same Dirichlet draw as the server's, from the
    shared seed; on separate machines each site would load only its own data) and trains when the server asks."""
    fl = _flwr()
    torch.set_num_threads(cfg.threads)
    data = _Data(cfg, Path(data_root))
    rows = dirichlet_split(data.y, fed.clients, fed.alpha, fed.seed)[cid]
    client = make_client(cfg, fed, cid, data, rows)
    fl.client.start_client(server_address=address, client=client.to_client(), insecure=True)
