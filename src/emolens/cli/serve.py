"""``emolens serve`` and ``emolens keys``: the HTTP/WebSocket service and its API keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emolens.cli.console import EXIT_PARTIAL, err, fail
from emolens.cli.options import Attention, DetectorOpt, Running, option_groups
from emolens.errors import ConfigError, EmolensError
from emolens.registry import DEFAULT_DETECTOR

out = Console()


@option_groups
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    gallery: Annotated[Path | None, typer.Option("--gallery", "-g", help="Gallery database.")] = None,
    keys: Annotated[
        Path | None, typer.Option(help="API key database (default ~/.local/share/emolens/keys.db).")
    ] = None,
    require_keys: Annotated[
        bool | None,
        typer.Option(
            "--require-keys/--no-keys",
            help="--require-keys: required from now on (stored in the key database). --no-keys: not for this run "
            "(loopback only, unless --insecure-keyless-network). Default: as stored; on once a key was created.",
        ),
    ] = None,
    insecure_keyless_network: Annotated[
        bool,
        typer.Option(
            "--insecure-keyless-network",
            help="Serve WITHOUT keys on a non-loopback address: anyone who reaches it can read the gallery.",
        ),
    ] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="A reverse proxy (address or CIDR network, repeatable) whose X-Forwarded-For is believed for "
            "rate limits; from any other client the header is ignored."
        ),
    ] = None,
    max_upload_mb: Annotated[float, typer.Option(min=0.01, help="Largest upload or frame.")] = 10.0,
    max_enrol_images: Annotated[int, typer.Option(min=1, help="Most photos in one POST /v1/people.")] = 10,
    max_pixels: Annotated[int, typer.Option(min=1, help="Largest image, width x height.")] = 40_000_000,
    rate: Annotated[int, typer.Option(min=1, help="Requests per minute per key (or per address without keys).")] = 600,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allow browser calls from this origin (repeatable).")
    ] = None,
    threads: Annotated[
        int, typer.Option(min=0, help="ONNX Runtime threads per model (1: concurrent requests share the cores).")
    ] = 1,
    detector: DetectorOpt = DEFAULT_DETECTOR,
    detector_size: Annotated[
        int | None,
        typer.Option(
            min=32,
            help="RetinaFace's longest input side (default 1024). 416 or 320 is faster on camera frames "
            "but misses faces under about 30 or 40 px of a 640x480 frame.",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Server-side source for the dashboard and WS /v1/source: a video file (played in real time, in "
            "a loop), a camera index or an rtsp/http stream URL. Only the operator chooses it."
        ),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            help="Alert rule on the --source, EMOTIONS[:SECONDS[:WHO[:MIN_SCORE]]] (repeatable): one of EMOTIONS as "
            "the smoothed label, at a smoothed score of at least MIN_SCORE (default 0.5), for SECONDS (default 3) "
            "without a break; WHO is any (default), unknown, known or a name. With --attention also "
            "distracted[:SECONDS[:WHO]] (default 3 s), drowsy[:SECONDS[:WHO[:PERCLOS]]] (2 s, 0.15) or "
            "yawn[:SECONDS[:WHO]] (0 s)."
        ),
    ] = None,
    attention: Attention = Attention(),
    retain: Annotated[
        str | None,
        typer.Option(help="Delete events and alerts older than this age (30d, 12h) at start and every hour."),
    ] = None,
    running: Running = Running(),
) -> None:
    """Run the REST/WebSocket service (needs the serve extra: `pip install 'emolens\\[serve]'`)."""
    from emolens.serve.keys import default_keys_path

    running.use_device()
    try:
        import uvicorn

        from emolens.serve.app import ServeConfig, create_app
        from emolens.serve.config import SourceAttention

        if detector_size and detector != "retinaface":
            raise ConfigError("--detector-size applies to retinaface only")
        if alert and source is None:
            raise ConfigError("--alert applies to --source; a client's stream logs events without alert rules")
        attention.check()
        if attention.enabled and source is None:
            raise ConfigError("--attention applies to --source; a client asks for it with /v1/stream?attention=true")
        cfg = ServeConfig(
            gallery=gallery,
            keys=keys or default_keys_path(),
            require_keys=require_keys,
            host=host,
            allow_keyless_network=insecure_keyless_network,
            trusted_proxies=list(trusted_proxy or []),
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            max_enrol_images=max_enrol_images,
            max_pixels=max_pixels,
            rate_per_minute=rate,
            cors_origins=list(cors_origin or []),
            threads=threads,
            detector=detector,
            detector_options={"max_size": detector_size} if detector_size else {},
            source=source,
            source_alerts=list(alert or []),
            source_attention=SourceAttention(attention.cone, attention.target) if attention.enabled else None,
        )
        if source is not None:  # a bad --source, --alert or --target fails now, not when the first viewer connects
            from emolens.session import attention_kinds
            from emolens.video.sources import open_source

            needs = attention_kinds(cfg.source_alerts)
            if needs and not attention.enabled:
                raise ConfigError(f"--alert {', '.join(needs)} needs --attention")
            open_source(source).close()
        app = create_app(cfg)
        if retain is not None:  # a second connection to the gallery file; WAL lets it delete while the app reads
            from emolens.identity.gallery import default_gallery_path
            from emolens.identity.store import SQLiteStore
            from emolens.privacy.retention import Retention, parse_age

            gone = Retention(SQLiteStore(gallery or default_gallery_path()), parse_age(retain)).start()
            if not running.quiet:
                err.print(
                    f"retention {retain}: deleted {gone['events']} events and {gone['alerts']} alerts", highlight=False
                )
    except ImportError as e:
        from emolens.errors import MissingExtraError

        raise fail(MissingExtraError(e.name or "uvicorn", "serve")) from None
    except EmolensError as e:
        raise fail(e) from None
    if not running.quiet:
        err.print(
            f"emolens serving on http://{host}:{port} (dashboard at /dashboard, docs at /docs, metrics at /metrics)",
            highlight=False,
        )
    # X-Forwarded-For is the guard's to read (from --trusted-proxy only), never uvicorn's; a WebSocket message
    # over the upload limit is refused by the protocol layer before it is buffered whole.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        ws_max_size=cfg.max_upload_bytes + 1024,
    )


keys_app = typer.Typer(help="Create, list and revoke API keys for `emolens serve`.", no_args_is_help=True)
KeysOpt = Annotated[Path | None, typer.Option("--keys", help="API key database.")]


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    rate: Annotated[int | None, typer.Option(min=1, help="Requests per minute for this key.")] = None,
    keys: KeysOpt = None,
) -> None:
    """Create a key; the token is printed once and only its hash is stored."""
    from emolens.serve.keys import KeyStore

    try:
        key, token = KeyStore(keys).create(name, rate)
    except EmolensError as e:
        raise fail(e) from None
    err.print(f"key {key.id} for {name}: keep this token, it is not shown again", highlight=False)
    typer.echo(token)


@keys_app.command("list")
def keys_list(keys: KeysOpt = None) -> None:
    """Keys (never their tokens)."""
    import datetime as dt

    from emolens.serve.keys import KeyStore

    t = Table()
    for c in ("id", "name", "created", "rate/min", "revoked"):
        t.add_column(c)
    for k in KeyStore(keys).list():
        created = dt.datetime.fromtimestamp(k.created).strftime("%Y-%m-%d %H:%M")
        t.add_row(str(k.id), k.name, created, str(k.rate_per_minute or ""), "yes" if k.revoked else "")
    out.print(t)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `emolens keys list`).")], keys: KeysOpt = None
) -> None:
    """Revoke a key at once."""
    from emolens.serve.keys import KeyStore

    store = KeyStore(keys)
    if not store.revoke(key_id):
        err.print(f"[red]error:[/red] no live key with id {key_id}")
        raise typer.Exit(EXIT_PARTIAL)
    err.print(f"revoked key {key_id}")
    if store.required and len(store) == 0:
        err.print("no live key is left: `emolens serve` refuses every API call until one is created", highlight=False)


@keys_app.command("require")
def keys_require(
    state: Annotated[str | None, typer.Argument(help="on or off; without it, say which.")] = None,
    keys: KeysOpt = None,
) -> None:
    """Whether `emolens serve` requires keys (on once a key is created; revoking keys never turns it off)."""
    from emolens.serve.keys import KeyStore

    try:
        store = KeyStore(keys)
        if state is not None:
            if state.lower() not in ("on", "off"):
                raise ConfigError(f"say on or off, not {state!r}")
            store.set_required(state.lower() == "on")
    except EmolensError as e:
        raise fail(e) from None
    live = len(store)
    typer.echo(f"keys required: {'on' if store.required else 'off'} ({live} live key{'' if live == 1 else 's'})")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
