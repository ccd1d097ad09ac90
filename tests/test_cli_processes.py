"""The command line as real processes against the real emulators on loopback: two runs on
one journal, a batch killed again and again during outages, Ctrl-C after a create.

The emulators' counts of paid creates are the truth every test checks.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from subprocess import CompletedProcess

import anyio
import pytest
from anyio.abc import ByteReceiveStream, Process

from prism_async._cli import EXIT_INTERRUPTED, EXIT_JOURNAL
from prism_async._results import JobHandle
from prism_async.testing import EmulatorServer, Fault, FaultKind
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals (SIGKILL, SIGINT)"),
]

# The child runs the real CLI with the providers' client-side request budgets raised. Those
# follow the documented limits (NanoGPT 50 creates/min, lipsync 60/min), at which 200
# creates would take minutes; the emulator's account allows this pace, and these tests are
# about the journal and the processes, not the budget.
CHILD = """
import signal, sys
# Ctrl-C as in a terminal: a suite started in the background by a non-interactive shell
# (``pytest ... &``) hands its children SIGINT ignored, and the interrupt would never come.
signal.signal(signal.SIGINT, signal.default_int_handler)
from prism_async._provider import Rate
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.nanogpt import NanoGPTProvider
for provider in (NanoGPTProvider, LipsyncProvider):
    provider.rates = {kind: Rate(requests=100_000, per_seconds=1.0) for kind in provider.rates}
from prism_async._cli import main
sys.exit(main(sys.argv[1:]))
"""

PROVIDER_VARIABLES = (
    "NANOGPT_API_KEY",
    "NANOGPT_BASE_URL",
    "PRISM_API_KEY",
    "PRISM_BASE_URL",
    "SYNC_API_KEY",
    "SYNC_BASE_URL",
)


def cli(*args: str) -> list[str]:
    """The argv of a child running ``prism-async ARGS`` (with the budgets raised)."""
    return [sys.executable, "-c", CHILD, *args]


def child_env(**settings: str) -> dict[str, str]:
    """This environment without any provider's settings, plus ``settings``: only the
    intended provider is configured in the child."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    env.update(settings)
    return env


def nanogpt_env(emulator: NanoGPTEmulator, server: EmulatorServer) -> dict[str, str]:
    return child_env(NANOGPT_API_KEY=emulator.api_key, NANOGPT_BASE_URL=server.base_url("nanogpt"))


def write_jsonl(path: Path, records: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def read_outcomes(path: Path) -> dict[str, dict[str, object]]:
    outcomes: dict[str, dict[str, object]] = {}
    for record in map(json.loads, path.read_text().splitlines()):
        assert record["key"] not in outcomes, f"{record['key']} reported twice"
        outcomes[record["key"]] = record
    return outcomes


def created_prompts(emulator: NanoGPTEmulator) -> collections.Counter[str]:
    return collections.Counter(str(job.sim.request["prompt"]) for job in emulator.jobs.values())


def shown(done: CompletedProcess[bytes]) -> str:
    return f"exit {done.returncode}; stderr: {done.stderr.decode(errors='replace')!r}"


# --- 1. Two runs started at once on one journal ------------------------------------------------

NANO_ITEMS = 200


async def test_two_batch_processes_on_one_journal_make_exactly_one_create_per_item(
    tmp_path: Path,
) -> None:
    emulator = NanoGPTEmulator(
        queue_seconds=0.0,
        run_seconds=0.2,
        balance=Decimal(1000),  # 200 creates at 0.35 each
        submit_limit_per_minute=10**6,
    )
    prompts = [f"scene {n}" for n in range(NANO_ITEMS)]
    lines = [
        {"key": f"k{n}", "provider": "nanogpt", "model": "veo2-video", "prompt": p, "duration": 5}
        for n, p in enumerate(prompts)
    ]
    batch = write_jsonl(tmp_path / "batch.jsonl", lines)
    journal = tmp_path / "journal.sqlite"
    argv = cli("batch", str(batch), "--journal", str(journal), "--concurrency", "100")
    async with EmulatorServer([emulator]) as server:
        env = nanogpt_env(emulator, server)
        runs: list[CompletedProcess[bytes]] = []

        async def run() -> None:
            runs.append(await anyio.run_process(argv, env=env, check=False))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                group.start_soon(run)
        creates_by_two = emulator.creates
        by_prompt = created_prompts(emulator)

        out = tmp_path / "third.jsonl"
        with anyio.fail_after(30):
            third = await anyio.run_process([*argv, "--out", str(out)], env=env, check=False)

    both = f"{shown(runs[0])}\n{shown(runs[1])}"
    # The emulator's count first: what two runs on one journal must never do is pay twice.
    assert creates_by_two == NANO_ITEMS, both
    assert by_prompt == dict.fromkeys(prompts, 1), both  # each prompt created once, none lost
    winner, loser = sorted(runs, key=lambda done: done.returncode)
    assert winner.returncode == 0, both
    assert b"Traceback" not in winner.stderr, both
    loser_err = loser.stderr.decode()
    assert "Traceback" not in loser_err, both
    if loser.returncode == EXIT_JOURNAL:  # refused at once, before any request
        assert len(loser_err.strip().splitlines()) == 1, both
        assert str(journal) in loser_err and "in use by another run" in loser_err, both
    else:
        # Both ran, one after the other: the second resumed every item and paid for none
        # (the counts above hold either way).
        assert loser.returncode == 0, both

    assert third.returncode == 0, shown(third)
    assert emulator.creates == NANO_ITEMS  # the third run created nothing more
    outcomes = read_outcomes(out)
    assert sorted(outcomes) == sorted(f"k{n}" for n in range(NANO_ITEMS))
    assert all(o["ok"] and o["resumed"] for o in outcomes.values())


# --- 2. Killed five times, during outages -----------------------------------------------------

LIP_ITEMS = 16
LIP_SLOTS = "4"  # jobs in flight: the batch takes a few waves, so the kills land mid-way
SEED = 20240611
OUTAGE_KILL = "outage, kill"
OUTAGE_UP_KILL = "outage, up, kill"
LOST_ANSWER = "lost answer and outage, kill"
KILL_OUTAGE = "kill, outage over the next start"


def round_plan(rng: random.Random) -> list[str]:
    """Five rounds in a random order, but with the lost answer in one of the first rounds
    (creates are left to lose) and the outage that outlasts its child never last (the
    next run starts during it)."""
    plan = [OUTAGE_KILL, OUTAGE_KILL, OUTAGE_UP_KILL]
    rng.shuffle(plan)
    plan.insert(rng.randrange(3), KILL_OUTAGE)
    plan.insert(rng.randrange(2), LOST_ANSWER)
    return plan


def lipsync_items(count: int) -> list[dict[str, object]]:
    return [
        {
            "key": f"lip{n}",
            "provider": "lipsync",
            "type": "lipsync",
            "model": "lipsync-2",
            "video": f"https://media.example/face-{n}.mp4",
            "audio": f"https://media.example/voice-{n}.wav",
        }
        for n in range(count)
    ]


@contextlib.asynccontextmanager
async def started(argv: list[str], env: dict[str, str], log: Path) -> AsyncIterator[Process]:
    """A child with its output in ``log`` (a file: no pipe to fill up), killed on exit."""
    with log.open("wb") as sink:
        async with await anyio.open_process(argv, env=env, stdout=sink, stderr=sink) as child:
            try:
                yield child
            finally:
                if child.returncode is None:
                    child.kill()
                with anyio.CancelScope(shield=True), anyio.fail_after(10):
                    await child.wait()


async def busy(child: Process, emulator: LipsyncEmulator, seen: int) -> None:
    """Wait until the child talks to the emulator (or has ended)."""
    with anyio.fail_after(10):
        while emulator.counts.total == seen and child.returncode is None:
            await anyio.sleep(0.01)


def kill(child: Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGKILL)


async def test_a_batch_killed_five_times_during_an_outage_resumes_with_one_create_per_item(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    plan = round_plan(rng)
    emulator = LipsyncEmulator(
        queue_seconds=0.0, run_seconds=0.3, concurrency_limit=16, create_limit_per_minute=1000
    )
    batch = write_jsonl(tmp_path / "lipsync.jsonl", lipsync_items(LIP_ITEMS))
    journal = tmp_path / "journal.sqlite"
    argv = cli("batch", str(batch), "--journal", str(journal), "--concurrency", LIP_SLOTS)
    history: list[str] = []
    answer_lost = False

    def where() -> str:
        return f"seed {SEED}; rounds: {'; '.join(history)}"

    async with EmulatorServer([emulator]) as server:
        env = child_env(SYNC_API_KEY=emulator.api_key, SYNC_BASE_URL=server.base_url("lipsync"))
        with anyio.fail_after(40):
            for number, mode in enumerate(plan, start=1):
                if mode == LOST_ANSWER:
                    # The next create is made, its answer lost, and the server goes down.
                    emulator.faults.inject(
                        "create", Fault(kind=FaultKind.LOSE_RESPONSE, outage=60.0)
                    )
                seen = emulator.counts.total
                log = tmp_path / f"round-{number}.log"
                async with started(argv, env, log) as child:
                    if server.down:  # the last round's outage goes on as this one starts
                        await anyio.sleep(rng.uniform(0.2, 1.5))
                        await server.come_up()
                    await busy(child, emulator, seen)
                    if mode == OUTAGE_KILL:
                        await anyio.sleep(rng.uniform(0.0, 2.5))
                        await server.go_down()
                        await anyio.sleep(rng.uniform(0.05, 1.0))
                        kill(child)
                    elif mode == OUTAGE_UP_KILL:
                        await anyio.sleep(rng.uniform(0.0, 1.5))
                        await server.go_down()
                        await anyio.sleep(rng.uniform(0.05, 0.8))
                        await server.come_up()
                        await anyio.sleep(rng.uniform(0.0, 2.0))
                        kill(child)
                    elif mode == LOST_ANSWER:
                        with anyio.move_on_after(5):
                            while not server.down and child.returncode is None:
                                await anyio.sleep(0.005)
                        answer_lost = server.down
                        await server.go_down()  # a no-op if the lost answer took it down
                        await anyio.sleep(rng.uniform(0.0, 0.8))
                        kill(child)
                    else:  # KILL_OUTAGE: the child is killed, then the server goes down
                        await anyio.sleep(rng.uniform(0.0, 2.5))
                        kill(child)
                        await child.wait()
                        await server.go_down()
                    await child.wait()
                emulator.faults.clear()
                if mode != KILL_OUTAGE:
                    await server.come_up()
                text = log.read_text(errors="replace")
                history.append(
                    f"{number}. {mode}: exit {child.returncode}, {emulator.creates} created"
                )
                assert "Traceback" not in text, f"{where()}\n{text}"
                assert child.returncode in (-signal.SIGKILL, 0, 1), f"{where()}\n{text}"

            assert not server.down, where()
            created_while_killed = emulator.creates
            out = tmp_path / "results.jsonl"
            final = await anyio.run_process([*argv, "--out", str(out)], env=env, check=False)

    assert final.returncode == 0, f"{where()}; final {shown(final)}"
    outcomes = read_outcomes(out)
    assert sorted(outcomes) == sorted(f"lip{n}" for n in range(LIP_ITEMS)), where()
    assert all(o["ok"] for o in outcomes.values()), f"{where()}; {outcomes}"
    # Each item paid for exactly once over six runs: none twice, none lost.
    assert emulator.creates == LIP_ITEMS, where()
    assert len(emulator.generations) == LIP_ITEMS, where()
    # What the rounds did: creates made in killed runs, and a create whose answer was lost
    # (made, and the server down) that a later run sent again with its key, at no charge.
    assert created_while_killed > 0, where()
    assert answer_lost, where()
    assert emulator.counts.by_route["create"] > LIP_ITEMS, where()


# --- 3. Ctrl-C once a job is created ---------------------------------------------------------


async def read_all(stream: ByteReceiveStream | None) -> str:
    assert stream is not None
    chunks = [chunk async for chunk in stream]
    return b"".join(chunks).decode()


async def test_ctrl_c_after_a_create_prints_the_job_handle_shell_quoted() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=60.0, balance=Decimal(10))
    argv = cli("generate", "--provider", "nanogpt", "--model", "veo2-video")
    argv += ["--prompt", "x", "--duration", "5"]
    async with (
        EmulatorServer([emulator]) as server,
        await anyio.open_process(argv, env=nanogpt_env(emulator, server)) as child,
    ):
        # Once the job is polled, the child holds its handle (it polls only handles it
        # has); a create alone does not say that the answer has reached the child.
        with anyio.fail_after(20):
            while not (emulator.creates == 1 and emulator.counts.by_route["status"] >= 1):
                assert child.returncode is None, "the child ended before the interrupt"
                await anyio.sleep(0.01)
        child.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            out, err = await read_all(child.stdout), await read_all(child.stderr)
            await child.wait()

    assert child.returncode == EXIT_INTERRUPTED, f"exit {child.returncode}; stderr: {err!r}"
    assert "Traceback" not in err, err
    (job_id,) = emulator.jobs
    job = emulator.jobs[job_id]
    # The handle keeps the model (for the legacy status route), the payment unit and the
    # precharge: nanogpt:<id>?model=veo2-video&precharge=0.35&unit=USD
    extra = {"model": "veo2-video", "precharge": str(job.cost), "unit": emulator.payment_source}
    handle = JobHandle(provider="nanogpt", id=job_id, extra=extra)
    assert str(handle).startswith(f"nanogpt:{job_id}?model=veo2-video&")
    word = shlex.quote(str(handle))
    assert word != str(handle)  # '?' is special to a shell: quoting shows
    assert word in err, err
    # Pasted into a shell, each printed line gives back the handle.
    line = next(line for line in err.splitlines() if "jobs already created go on" in line)
    (pasted,) = shlex.split(line.partition(": ")[2])
    assert JobHandle.parse(pasted) == handle
    advice = next(line for line in err.splitlines() if "prism-async wait" in line)
    assert shlex.split(advice.partition(": ")[2]) == ["prism-async", "wait", str(handle)]
    assert not job.sim.canceled  # the job goes on
    assert out == ""
    assert emulator.creates == 1


async def interrupted(argv: list[str], env: dict[str, str], ready: Callable[[], bool]) -> str:
    """Run the CLI, send Ctrl-C once ``ready()``, and return its stderr (exit 130 checked)."""
    async with await anyio.open_process(argv, env=env) as child:
        with anyio.fail_after(20):
            while not ready():
                assert child.returncode is None, "the child ended before the interrupt"
                await anyio.sleep(0.01)
        child.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            err = await read_all(child.stderr)
            await child.wait()
    assert child.returncode == EXIT_INTERRUPTED, f"exit {child.returncode}; stderr: {err!r}"
    assert "Traceback" not in err, err
    return err


async def test_ctrl_c_while_a_create_is_on_its_way_warns_that_a_job_may_be_charged() -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=60.0, balance=Decimal(10))
    # The job is made at once; its answer is held back, so Ctrl-C comes before it.
    emulator.faults.inject("generate", Fault(kind=FaultKind.SLOW, delay=30.0))
    argv = cli("generate", "--provider", "nanogpt", "--model", "veo2-video", "--prompt", "x")
    async with EmulatorServer([emulator]) as server:
        err = await interrupted(argv, nanogpt_env(emulator, server), lambda: emulator.creates == 1)
    assert "a job may have been created and charged for" in err
    assert emulator.creates == 1


async def test_ctrl_c_during_a_batch_names_every_job_it_created(tmp_path: Path) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=60.0, balance=Decimal(10))
    records = [
        {"key": f"k{n}", "provider": "nanogpt", "model": "veo2-video", "prompt": f"p{n}"}
        for n in range(3)
    ]
    batch = write_jsonl(tmp_path / "b.jsonl", records)
    async with EmulatorServer([emulator]) as server:
        env = nanogpt_env(emulator, server)
        polled = lambda: emulator.counts.by_route["status"] >= 3  # noqa: E731 - all answered
        err = await interrupted(cli("batch", str(batch)), env, polled)
        printed = {JobHandle.parse(w).id for w in shlex.split(err) if w.startswith("nanogpt:")}
        assert printed == set(emulator.jobs)  # without a journal: every handle, pasteable

        journal = tmp_path / "j.sqlite"
        err = await interrupted(
            cli("batch", str(batch), "--journal", str(journal)),
            env,
            lambda: emulator.counts.by_route["status"] >= 6,
        )
    assert f"every job created is in the journal {journal}" in err
    assert f"resume with: prism-async batch {batch} --journal {journal}" in err
    assert emulator.creates == 6
