"""The `singlewindow` command line."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas.samples import sample_declaration
from schemas.scenarios import CATALOGUE, HELPER_OUTCOMES, TEST_HS_CODES
from services.common.generations import EMBEDDED_PERIOD_S
from services.common.settings import SERVICES, Settings
from singlewindow.ceb import ceb_app
from singlewindow.console import console, gateway_client, notes
from singlewindow.load.costs import (
    SOAK_DURATION_S,
    SOAK_SAMPLE_EVERY_S,
    bucket_for,
    resources_report,
    sent_until,
    warnings,
)
from singlewindow.load.plan import DEFAULT_MIX, MixEntry, Profile, parse_mix
from singlewindow.load.recorder import Recorder
from singlewindow.load.report import print_summary, write_reports
from singlewindow.load.runner import LoadConfig, LoadRun
from singlewindow.loop import run as run_loop
from singlewindow.resources.gauge import Gauge
from singlewindow.resources.watch import Watch
from singlewindow.spawn import spawn_system
from singlewindow.supervisor import Supervisor, parse_replicas
from singlewindow.tail import Filter, Follow, NotThere, Seen, line_of, topics_to_follow
from singlewindow.tail import run as run_tail

app = typer.Typer(
    help="Single window simulator: customs, inspection, forex and tax on one declaration.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(ceb_app, name="ceb")

GatewayOpt = Annotated[
    str | None, typer.Option("--gateway", help="gateway URL (default from SW_ settings)")
]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default SW_DEMO_API_KEY)")]


@app.command()
def up(
    replicas: Annotated[str, typer.Option(help="replicas per service, e.g. customs=2,tax=2")] = "",
) -> None:
    """Start the broker and the five services, supervised; Ctrl-C stops them all."""
    logging.basicConfig(
        level="INFO",
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    embedded = "SW_KAFKA_BOOTSTRAP" not in os.environ
    if embedded:
        update: dict[str, object] = {"kafka_bootstrap": f"127.0.0.1:{settings.broker_port}"}
        if "SW_TOPIC_GENERATION_S" not in os.environ:
            # The embedded broker keeps every record in memory: rotate topics to bound it.
            update["topic_generation_s"] = EMBEDDED_PERIOD_S
        settings = settings.model_copy(update=update)
    try:
        plan = parse_replicas(replicas)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--replicas") from exc
    if "SW_PARTITIONS" not in os.environ:
        # Every replica of a service needs a partition of its own to share the work.
        settings = settings.model_copy(
            update={"partitions": max(settings.partitions, *plan.values())}
        )
    sup = Supervisor(settings, embedded_broker=embedded, replicas=plan)
    started = time.monotonic()
    try:
        sup.start()
        with console.status("waiting for the services to be ready…") as status:
            sup.wait_ready(
                on_tick=lambda r: status.update(
                    f"ready: {sum(r.values())}/{len(r)} ({', '.join(n for n, ok in r.items() if not ok) or 'all'})"
                )
            )
        table = Table(title=f"Single window is up ({time.monotonic() - started:.1f}s)")
        table.add_column("service")
        table.add_column("URL")
        table.add_column("pid", justify="right")
        for child in sup.children:
            table.add_row(child.name, child.url or "", str(child.proc.pid if child.proc else ""))
        broker = (
            f"embedded Tansu on {settings.kafka_bootstrap}"
            if embedded
            else settings.kafka_bootstrap
        )
        table.add_row(
            "broker", broker, str(sup.broker.proc.pid if sup.broker and sup.broker.proc else "-")
        )
        console.print(table)
        gw = settings.url_of("gateway")
        console.print(f"API docs:  {gw}/docs     AsyncAPI: {gw}/asyncapi.json")
        console.print(f"Demo API key: [bold]{settings.demo_api_key}[/bold]")
        console.print(
            f"Try:  singlewindow submit     (logs in {sup.logs}/; Ctrl-C stops everything)"
        )
        sup.run_forever()
    finally:
        sup.stop()


@app.command()
def scenarios() -> None:
    """List the sandbox's forced outcomes (`scenario`, magic `reference`), the test helpers'
    outcomes and the test HS codes (docs/sandbox.md)."""
    table = Table(title='scenarios (send as "scenario", or a magic "reference")')
    for column in ("scenario", "reference", "agency", "ends as", "what happens", "codes"):
        table.add_column(column, overflow="fold")
    for info in CATALOGUE:
        table.add_row(
            info.scenario.value,
            f"{info.magic}…",
            info.agency,
            info.final_status,
            info.outcome,
            ", ".join(info.codes),
        )
    console.print(table)
    helpers = Table(title="test helpers: POST /v1/test_helpers/declarations/{id}/outcomes")
    for column in ("outcome", "agency", "answers the pending", "what the agency decides"):
        helpers.add_column(column, overflow="fold")
    for helper in HELPER_OUTCOMES:
        helpers.add_row(helper.name, helper.agency, ", ".join(helper.commands), helper.what)
    console.print(helpers)
    codes = Table(title="test HS codes")
    codes.add_column("hs_code")
    codes.add_column("what it does")
    for hs_code, what in TEST_HS_CODES:
        codes.add_row(hs_code, what)
    console.print(codes)


@app.command()
def submit(
    direction: Annotated[str, typer.Option(help="export or import")] = "export",
    trade_mode: Annotated[
        str, typer.Option("--mode", help="0110, 9610, 1210, 9710 or 9810")
    ] = "0110",
    scenario: Annotated[
        str | None, typer.Option(help="forced outcome, e.g. inspection_fail")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="your reference; a magic one forces an outcome, e.g. SW-RED-PO1"),
    ] = None,
    wait: Annotated[bool, typer.Option(help="wait until the declaration ends")] = True,
    gateway: GatewayOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Submit a sample declaration and follow it to its end."""
    with gateway_client(gateway, api_key) as client:
        resp = client.post(
            "/v1/declarations",
            json=sample_declaration(direction, trade_mode, scenario, reference),
        )
        if resp.status_code != 202:
            console.print_json(resp.text)
            raise typer.Exit(1)
        declaration_id = resp.json()["id"]
        console.print(f"submitted [bold]{declaration_id}[/bold]")
        if wait:
            deadline = time.monotonic() + 60
            with console.status("in progress…") as status:
                while time.monotonic() < deadline:
                    view = client.get(f"/v1/declarations/{declaration_id}").json()
                    status.update(f"{view['status']}: {view['state']}")
                    if view["status"] in (
                        "completed",
                        "rejected",
                        "failed",
                        "cancelled",
                        "stalled",
                    ):
                        break
                    time.sleep(0.2)
            _print_view(client, declaration_id)


@app.command()
def status(
    declaration_id: str,
    gateway: GatewayOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Show a declaration: status, agency steps, figures and timeline."""
    with gateway_client(gateway, api_key) as client:
        _print_view(client, declaration_id)


@app.command("events")
def events_(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new messages (Ctrl-C stops)")
    ] = False,
    all_topics: Annotated[
        bool, typer.Option("--all", help="every agency's command and event topics too")
    ] = False,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="only these types; shell patterns, e.g. 'tax.*'"),
    ] = None,
    declarations: Annotated[
        list[str] | None,
        typer.Option("--declaration", "-d", help="only this declaration (its id or its end)"),
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option(help="with --follow: print what the topics hold first")
    ] = False,
    limit: Annotated[int | None, typer.Option("--max", help="stop after this many")] = None,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON envelope a line")] = False,
    kafka: Annotated[str | None, typer.Option(help="broker (default SW_KAFKA_BOOTSTRAP)")] = None,
) -> None:
    """The messages on the public status topic (with --all, the agencies' too), as they pass.

    Without --follow: what the topics hold now, then exit. With it: new ones until Ctrl-C.
    """
    settings = Settings(kafka_bootstrap=kafka) if kafka else Settings()
    plan = Follow(
        topics=tuple(topics_to_follow(agencies=all_topics)),
        only=Filter(tuple(types or ()), tuple(declarations or ())),
        follow=follow,
        from_beginning=from_beginning,
        limit=limit,
        seconds=seconds,
    )

    def show(seen: Seen) -> None:
        if as_json:
            if seen.envelope is not None:
                print(json.dumps(seen.envelope, ensure_ascii=False), flush=True)
        else:
            console.print(line_of(seen), soft_wrap=True)

    def ready() -> None:  # on stderr: stdout holds only the messages (--json pipes to jq)
        what = "following" if follow else "reading"
        notes.print(f"[dim]{what} {', '.join(plan.topics)} at {settings.kafka_bootstrap}[/dim]")

    try:
        run_tail(settings, plan, show, ready)
    except NotThere as exc:
        notes.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def load(
    rate: Annotated[
        str, typer.Option(help="arrivals/s: 200, ramp:50-500 or step:100,200,400")
    ] = "50",
    duration: Annotated[
        float | None, typer.Option(help="seconds of sending (20; with --soak 7200)")
    ] = None,
    model: Annotated[
        str, typer.Option(help="open (fixed arrival schedule) or closed (N clients)")
    ] = "open",
    clients: Annotated[int, typer.Option(help="closed model: concurrent clients")] = 20,
    mix: Annotated[
        str, typer.Option(help="direction/mode(/scenario)=weight,… or @file.json")
    ] = DEFAULT_MIX,
    out: Annotated[Path, typer.Option(help="folder for report.json and report.html")] = Path(
        "var/load"
    ),
    spawn: Annotated[bool, typer.Option(help="start a fresh embedded system for the run")] = False,
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers of the status topic")] = None,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for completions after sending")
    ] = 30.0,
    connections: Annotated[int, typer.Option(help="HTTP connections to the gateway")] = 64,
    seed: Annotated[int, typer.Option(help="seed of the mix draw")] = 1,
    batch: Annotated[
        int, typer.Option(help="open model: declarations a request (POST /v1/declarations/batch)")
    ] = 1,
    soak: Annotated[
        bool,
        typer.Option(help="a steady rate for long (2 h by default); slopes of memory and disk"),
    ] = False,
    warmup: Annotated[
        float | None,
        typer.Option(help="soak: seconds left out of the slopes (default a fifth of the run)"),
    ] = None,
    sample_every: Annotated[
        float | None, typer.Option(help="seconds between samples of memory and disk (5; soak 10)")
    ] = None,
    gateway: GatewayOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Load the gateway; measure accept and completion latency (HDR), stages, lag and errors,
    each process's CPU and memory, each database's size and the bytes put on the bus."""
    duration = duration or (SOAK_DURATION_S if soak else 20.0)
    try:
        entries = parse_mix(mix)
        profile = Profile.parse(rate, duration) if model == "open" else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if model not in ("open", "closed"):
        raise typer.BadParameter("use open or closed", param_hint="--model")
    if soak and (profile is None or profile.kind != "constant"):
        raise typer.BadParameter("a soak runs the open model at one rate, e.g. --rate 60")
    if not 1 <= batch <= 500:
        raise typer.BadParameter("from 1 to 500", param_hint="--batch")
    settings = Settings()
    plan = RunPlan(
        model,
        profile,
        clients,
        duration,
        entries,
        mix,
        out,
        warmup if warmup is not None else (duration / 5 if soak else None),
        sample_every or (SOAK_SAMPLE_EVERY_S if soak else 5.0),
    )
    if spawn:
        tmp = Path(tempfile.mkdtemp(prefix="sw-load-"))
        console.print(f"starting a fresh system in {tmp} …")
        with spawn_system(tmp) as system:
            config = LoadConfig(
                system.url("gateway"),
                settings.demo_api_key,
                system.broker,
                timeout,
                connections,
                seed,
                batch,
            )
            report = _run_load(config, plan, Gauge.of_supervisor(system.proc.pid, tmp))
    else:
        config = LoadConfig(
            gateway or settings.url_of("gateway"),
            api_key or settings.demo_api_key,
            kafka or settings.kafka_bootstrap,
            timeout,
            connections,
            seed,
            batch,
        )
        report = _run_load(config, plan, Gauge.near(config.gateway))
    print_summary(console, report)
    json_path, html_path = write_reports(report, out)
    console.print(f"reports: {json_path}  {html_path}")


@dataclass(frozen=True)
class RunPlan:
    """What `singlewindow load` was asked to run."""

    model: str
    profile: Profile | None
    clients: int
    duration: float
    entries: tuple[MixEntry, ...]
    mix: str
    out: Path
    warmup_s: float | None  # a soak's warm-up; None when not a soak
    sample_every_s: float


def target_bounds(settings: Settings) -> dict[str, float]:
    """The topic generation period and retention the system under load is taken to have:
    this environment's SW_ settings, as `singlewindow up` would apply them (with its
    embedded broker topics turn unless SW_TOPIC_GENERATION_S says otherwise)."""
    period = settings.topic_generation_s
    if "SW_TOPIC_GENERATION_S" not in os.environ and "SW_KAFKA_BOOTSTRAP" not in os.environ:
        period = EMBEDDED_PERIOD_S
    return {"generation_s": period, "retention_s": settings.retention_days * 86400}


def _run_load(config: LoadConfig, plan: RunPlan, gauge: Gauge | None) -> dict[str, Any]:
    config.sample_every_s = plan.sample_every_s
    run = LoadRun(config, recorder=Recorder(bucket_s=bucket_for(plan.duration)), gauge=gauge)
    profile, duration = plan.profile, plan.duration
    total = len(profile.send_times()) if profile else None
    if total:
        settings = Settings()
        data_dir = gauge.data_dir if gauge and gauge.data_dir else settings.data_dir
        bounds = target_bounds(settings)
        lines = warnings(total, plan.out / "report.json", data_dir, rate=total / duration, **bounds)
        for line in lines:
            console.print(f"[yellow]warning:[/yellow] {line}")
    watch = Watch(config.bootstrap, gauge)
    run_loop(watch.begin())
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{plan.model} load", total=total or duration, stats="")

        def tick(s: dict[str, Any]) -> None:
            progress.update(
                task,
                completed=s["sent"] if total else min(s["t"], duration),
                stats=f"sent {s['sent']} done {s['completed']} in-flight {s['in_flight']} "
                f"errors {s['errors']} lag {s['lag']}",
            )

        run.on_tick = tick
        started = time.monotonic()
        if profile:
            run_loop(run.run_open(profile.send_times(), plan.entries))
        else:
            run_loop(run.run_closed(plan.clients, duration, plan.entries))
        elapsed = time.monotonic() - started
    completed = run.recorder.completion.get_total_count()
    figures = run_loop(
        watch.finish(completed, elapsed, sent_until=sent_until(run.recorder, run.t0))
    )
    report = run.recorder.report(
        {
            "model": plan.model,
            "profile": f"{profile.kind}:{','.join(f'{r:g}' for r in profile.rates)}"
            if profile
            else f"{plan.clients} clients",
            "mix": plan.mix,
            "gateway": config.gateway,
            "batch": config.batch,
            "sent": run.sent_count,
            "duration_s": round(elapsed, 2),
            "offered_rate": run.sent_count / duration,
            # The open model's target rate each second (the closed model has none: sent is all).
            "offered_per_s": [profile.rate_at(t + 0.5) for t in range(math.ceil(duration))]
            if profile
            else [],
            "completion_rate": completed / max(elapsed, 1e-9),
        }
    )
    report["resources"] = resources_report(figures, gauge, plan.warmup_s)
    return report


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="a run under two minutes")] = False,
    replicas: Annotated[
        str, typer.Option(help="replicas per service for the system under test")
    ] = "",
    batch: Annotated[
        int,
        typer.Option(help="declarations a request in the batch search (POST …/batch); 1 skips it"),
    ] = 100,
    shape: Annotated[
        str, typer.Option(help="the flow the skeleton and raw chain model: new or old")
    ] = "new",
    out: Annotated[Path | None, typer.Option(help="write the figures as JSON here")] = None,
) -> None:
    """Sustained throughput (single POSTs and batches) beside the raw chain and the flow's
    skeleton, with CPU a declaration per process, memory, disk and bytes on the bus."""
    from singlewindow.bench.report import last_line
    from singlewindow.bench.run import bench as run_bench
    from singlewindow.bench.skeleton import SHAPES

    if shape not in SHAPES:
        raise typer.BadParameter(f"use one of {', '.join(SHAPES)}", param_hint="--shape")
    if not 1 <= batch <= 500:
        raise typer.BadParameter("from 1 to 500", param_hint="--batch")
    figures = run_bench(quick=quick, replicas=replicas, console=console, batch=batch, shape=shape)
    if out:
        out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(last_line(figures))


def _print_view(client: httpx.Client, declaration_id: str) -> None:
    resp = client.get(f"/v1/declarations/{declaration_id}")
    if resp.status_code != 200:
        console.print_json(resp.text)
        raise typer.Exit(1)
    view = resp.json()
    table = Table(title=f"{declaration_id}: {view['status']} ({view['state']})")
    table.add_column("agency")
    table.add_column("step")
    for agency, step in view["steps"].items():
        table.add_row(agency, step)
    console.print(table)
    figures = {k: v for k, v in view["figures"].items() if v is not None}
    console.print(
        f"entry {view['entry_id']}  channel {view['channel']}  customs status {view['customs_status']}"
    )
    console.print("figures: " + json.dumps(figures, ensure_ascii=False))
    if view["reason"]:
        console.print(f"reason: {view['reason']}")
    timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    events = Table(title="timeline")
    for col in ("time", "direction", "source", "type"):
        events.add_column(col)
    for entry in timeline:
        events.add_row(
            entry["occurred_at"][11:23], entry["direction"], entry["source"], entry["type"]
        )
    console.print(events)


def main() -> None:
    """Entry point."""
    app()


__all__ = ["SERVICES", "app", "main"]
