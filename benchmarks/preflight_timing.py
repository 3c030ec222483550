"""How long the sweep's preflight takes (study.preflight: every video's header, judgments, captions,
annotations, backbone, storage), on the default synthetic benchmark and on a 250-video folder (the paper's
dataset size), next to what one full decode of the same videos costs.

    python -m benchmarks.preflight_timing [--repeats 5] [--work-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.common import spread, timed
from data.clips import DecodeSettings, decode_clip
from data.judgments import load_judgments
from study.preflight import check_backbone, preflight
from study.synthetic import SyntheticConfig, ensure_benchmark
from common.errors import cli_entry


def _preflight(data: Path, storage: Path) -> None:
    """The sweep's checks before Ray: the data and storage, then its backbone (the smoke space's 'tiny')."""
    preflight(data, storage=str(storage))
    check_backbone("tiny")


def measure(data: Path, repeats: int, storage: Path) -> dict:
    """Preflight seconds (first call, then `repeats` more) and the seconds to decode every video once."""
    first = timed(lambda: _preflight(data, storage))
    again = [timed(lambda: _preflight(data, storage)) for _ in range(repeats)]
    names = load_judgments(data).video_names
    decode = timed(lambda: [decode_clip(data / "videos" / n, DecodeSettings()) for n in names])
    return {"data": str(data), "n_videos": len(names), "first_s": first, "preflight_s": spread(again),
            "decode_all_s": decode}


@cli_entry
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.preflight_timing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="timed preflight runs after the first (default 5)")
    p.add_argument("--work-dir", type=Path, default=None, help="where the 250-video folder is generated")
    args = p.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="preflight-"))
    folders = {"default benchmark": ensure_benchmark(),
               "250 videos": ensure_benchmark(work / "synthetic", SyntheticConfig(n_videos=250))}
    results = {name: measure(Path(folder), args.repeats, work / "runs") for name, folder in folders.items()}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
