"""Everything a sweep checks before Ray (and torch) is imported: the space, the experiment folder, the Ray
address, whether a trial fits this machine, the data, the backbone and the storage; for --resume, that the
folder is one this user may run code from. Bad input fails here in about a second, one line, nothing
written; the experiment folder is created and locked (study.sweep.lock) only once every check has passed.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError
from search_spaces import SearchSpace
from study.optuna_study import STUDY_FILE, check_study_file
from study.preflight import check_backbone, check_backbone_source, preflight
from study.sweep.lock import LOCK_FILE, ExperimentLock, claim_experiment, unstarted
from study.sweep.overrides import build_space, space_backbones, space_clips
from common.storage import local_path, read_bytes
from study.sweep.settings import SETTINGS_FILE, SweepSettings
from study.sweep.trust import check_owned, check_signed

RAY_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: its space, where it writes (storage/name) and the lock that makes it the only writer."""
    space: SearchSpace
    storage: str
    name: str
    lock: ExperimentLock | None

    @property
    def experiment(self) -> str:
        return f"{self.storage}/{self.name}"


def plan_sweep(settings: SweepSettings) -> SweepPlan:
    """Every check of a new sweep, cheapest first; then the experiment folder is created and locked."""
    space = build_space(settings, backbone=False)
    if settings.data and not Path(settings.data).is_dir():
        raise ConfigError(f"--data {settings.data}: no such folder")
    storage, name = _experiment_dir(settings)
    _check_ray(settings)
    _run_preflight(settings, space, storage, "--storage-path")
    lock = None if "://" in storage else claim_experiment(Path(storage) / name, create=True)
    return SweepPlan(space, storage, name, lock)


def plan_resume(experiment_dir: str, *, trust_folder: bool = False, **changes) -> tuple[SweepSettings, SweepPlan]:
    """Every check of a --resume, whatever the spelling of the folder (a path or a file:// URI: both are the
    local folder): one this user owns and no one else can write, whose state this user's sweep signed
    (resuming runs code from it: Ray's restore unpickles tuner.pkl; study.sweep.trust), its sweep.json and
    optuna.db, the data; then the lock. A bucket's folder is checked for what a bucket can tell (sweep.json,
    the data); docs/sweep.md says what is not checked there."""
    local = local_location(experiment_dir)
    path = str(local) if local is not None else experiment_dir.rstrip("/")
    lock = None
    if local is not None:
        check_owned(local)
        if (local / LOCK_FILE).is_file():  # a sweep made this folder; one still writing it: refused here
            lock = claim_experiment(local, create=False)
    try:
        return _checked_resume(experiment_dir, path, lock, changes, trust_folder)
    except BaseException:
        if lock is not None:
            lock.release()  # refused: the folder is free again (for a corrected --resume in this process too)
        raise


def local_location(experiment_dir: str, setting: str = "--resume") -> Path | None:
    """The local folder a path or file:// URI names, resolved; None for a bucket."""
    try:
        local = local_path(experiment_dir)
    except Exception as err:  # noqa: BLE001 - pyarrow's own error for a URI it cannot parse
        raise ConfigError(f"{setting} {experiment_dir}: not a folder or a storage URI pyarrow can open "
                          f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    return None if local is None else local.expanduser().resolve()


def _checked_resume(experiment_dir: str, path: str, lock: ExperimentLock | None, changes: dict,
                    trust_folder: bool) -> tuple[SweepSettings, SweepPlan]:
    local = "://" not in path
    if read_bytes(f"{path}/{SETTINGS_FILE}") is None or (local and not (Path(path) / "tuner.pkl").is_file()):
        raise ConfigError(f"--resume {experiment_dir}: not a sweep experiment folder (no {SETTINGS_FILE} and "
                          "Tune experiment state there)")
    if local and not trust_folder:
        check_signed(Path(path), "--resume")
    settings = load_settings(path, **changes)
    space = build_space(settings, backbone=False)
    if local and not space.is_grid:
        check_study_file(Path(path) / STUDY_FILE, setting="--resume")
    _check_ray(settings)
    _run_preflight(settings, space, path, "--resume")
    if local and lock is None:  # a folder from before the lock existed
        lock = claim_experiment(Path(path), create=False)
    storage, _, name = path.rpartition("/")
    return settings, SweepPlan(space, storage, name, lock)


def load_settings(experiment: str, **changes) -> SweepSettings:
    """The settings a sweep saved in its sweep.json; keyword arguments that are not None replace them."""
    source = f"{experiment}/{SETTINGS_FILE}"
    try:
        saved = json.loads(read_bytes(source) or b"")["settings"]
        known = {f.name for f in dataclasses.fields(SweepSettings)}
        kept = {k: v for k, v in saved.items() if k in known}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{source}: not a sweep's settings file ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
    try:
        return SweepSettings(**kept | {k: v for k, v in changes.items() if v is not None or k == "ray_address"})
    except TypeError as err:
        raise ConfigError(f"{source}: {err}") from None


def _experiment_dir(settings: SweepSettings) -> tuple[str, str]:
    """(storage, name); a local folder must not exist yet (its writability is the preflight's check)."""
    name = settings.name or f"{settings.space}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    storage = settings.storage_path
    if "://" in storage:
        local = local_location(storage, setting="--storage-path")  # file:// is a local folder like any other
        if local is None:  # a bucket: probed by the preflight
            return storage, name
        storage = str(local)
    storage = str(Path(storage).expanduser().resolve())
    target = Path(storage) / name
    if target.exists() and not unstarted(target):
        raise ConfigError(f"experiment folder {target} already exists; use --resume {target} or another --name")
    return storage, name


def _run_preflight(settings: SweepSettings, space: SearchSpace, storage: str, setting: str) -> None:
    """The backbones' torch-free half first (a missing folder or an unreachable hub id is refused in a second),
    study.preflight on the folder the trials and the analysis will read, then the backbones' whole check (it
    imports torch, so it comes after every cheaper one); one line on success."""
    for backbone in space_backbones(space):
        check_backbone_source(backbone)
    report = preflight(data_dir(settings.data), split=settings.split, seed=settings.seed,
                       analysis=settings.analysis, storage=storage, storage_setting=setting)
    for backbone in space_backbones(space):
        check_backbone(backbone, decode=space_clips(space))
    print(report.line(), flush=True)


def data_dir(data: str | None) -> Path:
    """The data folder a sweep reads: the given one, else the synthetic benchmark (built once, cached)."""
    if data:
        return Path(data)
    from study.synthetic import ensure_benchmark

    return Path(ensure_benchmark())


# ------------------------------------------------------------------------------------------ Ray and resources
def _check_ray(settings: SweepSettings) -> None:
    """An address must answer now; a local Ray must be able to place one trial on this machine."""
    if settings.ray_address:
        check_ray_address(settings.ray_address, setting="--ray-address")
    elif os.environ.get("RAY_ADDRESS"):
        check_ray_address(os.environ["RAY_ADDRESS"], setting="RAY_ADDRESS")
    else:
        check_fit(settings.workers_per_trial, worker_bundle(settings), [this_machine(settings)])


def check_ray_address(address: str, *, setting: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """HOST:PORT or ray://HOST:PORT answers a TCP connection within `timeout` s (Ray itself retries for
    minutes); 'auto' and 'local' are Ray's own to resolve."""
    if address in ("auto", "local"):
        return
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(f"{setting} {address!r}: write HOST:PORT, ray://HOST:PORT or auto")
    try:
        answer = _grpc_handshake(host, port, timeout)
    except OSError as err:
        raise ConfigError(f"{setting} {address}: nothing answers at {host}:{port} within {timeout:g} s "
                          f"({err.strerror or type(err).__name__}); start Ray there or leave {setting} unset "
                          "for a local Ray") from None
    if len(answer) < 9 or answer[3] != _HTTP2_SETTINGS:
        raise ConfigError(f"{setting} {address}: something answers at {host}:{port}, but not Ray (no gRPC "
                          f"handshake within {timeout:g} s); give the Ray head's GCS address (HOST:6379) or "
                          "ray://HOST:10001")


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + empty SETTINGS
_HTTP2_SETTINGS = 4


def _grpc_handshake(host: str, port: int, timeout: float) -> bytes:
    """The first frame header a server sends after HTTP/2's client preface: Ray's GCS and its client server
    speak gRPC, which answers with a SETTINGS frame; anything else answers otherwise, or not at all."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.settimeout(timeout)
        conn.sendall(_HTTP2_PREFACE)
        answer = b""
        try:
            while len(answer) < 9:
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except (socket.timeout, ConnectionError):
            pass
        return answer


def worker_bundle(settings: SweepSettings) -> dict:
    """What each Ray Train worker of a trial reserves."""
    return {"CPU": settings.cpus_per_worker} | ({"GPU": settings.gpus_per_worker} if settings.gpus_per_worker
                                                else {})


def local_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def this_machine(settings: SweepSettings | None = None) -> dict:
    """What a local Ray started here will offer (Ray detects the same CPUs and CUDA GPUs); torch is asked
    for the GPUs only when the sweep wants some."""
    gpus = 0.0
    if settings is None or settings.gpus_per_worker:
        import torch

        gpus = float(torch.cuda.device_count())
    return {"CPU": float(local_cpus()), "GPU": gpus}


def check_fit(num_workers: int, bundle: dict, nodes: list[dict]) -> int:
    """Fail now, with the numbers, if a trial can never be placed; return how many trials fit at once."""
    fits = [min(math.floor(n.get(k, 0) / v + 1e-9) for k, v in bundle.items() if v > 0) for n in nodes]
    capacity = sum(f * max(1, n.get("_max_workers", 1)) for f, n in zip(fits, nodes))
    if max(fits, default=0) < 1 or capacity < num_workers:
        have = [{k: n.get(k, 0) for k in ("CPU", "GPU")} for n in nodes]
        raise ConfigError(f"a trial needs {num_workers} worker(s) x {bundle}, which this Ray cluster "
                          f"can never place (nodes: {have}); lower --workers-per-trial, --cpus-per-worker or "
                          "--gpus-per-worker")
    return capacity // num_workers
