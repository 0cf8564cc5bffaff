"""Throughput and memory of ``cropperhead scan`` next to this machine's own decoding limit.

    python benchmarks/scan.py [--photos 16] [--repeat 3] [--size 512] [--raw-files 2]
                              [--raw-repeat 2] [--memory-photos 16] [--memory-size 2000x1500]
                              [--quick] [--parts jpeg,raw,memory] [--profile]

Generates everything on the fly in a temporary folder, then measures in one run:

1. JPEG library: ``--photos`` 24-megapixel JPEGs (6000 x 4000, quality 92; a smooth
   colour field with shapes, lines and sensor-like noise, so they weigh about 8 MB like
   camera files), each with a Lightroom-style XMP sidecar (about 10 KB of develop
   settings, tone curves and history, as Lightroom Classic writes them) carrying a crop
   (:func:`cropperhead.metadata.xmp.merge_crop_into_xmp`). In turn, ``--repeat`` times:

   - ``bare``: the machine's limit: a ``multiprocessing.Pool`` (default start method,
     fork on Linux) that opens each JPEG with Pillow, decodes it with ``Image.draft``
     (libjpeg DCT scaling, as ``cropperhead.imaging`` does) and resizes it to the same
     long side with the same Lanczos call; nothing is written;
   - ``bare, spawned``: the same loop in a spawned pool (the scan's start method), to
     show what starting workers that way costs;
   - ``scan``: :func:`cropperhead.scan.scan_library` with default workers, progress off,
     into a fresh output folder (walk, key, read the sidecar, decode, write the 512 px
     JPEG, journal, manifest).

   All use the same number of processes: the scan's own rule, one per core but at most
   one per 4 photos. Times are wall clock, pool start-up included. Target: the median
   scan time <= 1.5x the median bare time.
2. RAW: ``--raw-files`` 24-megapixel 16-bit RGGB DNGs with a full-size embedded JPEG
   preview (built by benchmarks/decode.py's ``write_dng``). Per photo, one process:
   ``read_stored_image`` (the scan's RAW path, which takes the preview) + resize, against
   LibRaw's full demosaic (``postprocess()``, AHD) + resize and its half-size render
   (``postprocess(half_size=True)``) + resize. Target: preview >= 5x faster than the
   full demosaic.
3. Memory: the scan of ``--memory-photos`` N and of 3N small photos (``--memory-size``,
   2000 x 1500), each in a fresh process, then the same scan again over its own output
   (nothing changed: the whole state is loaded, compared and written back); peak RSS
   (``VmHWM``) of that process and of its largest worker (sampled every 20 ms while the
   scan runs), and the main process's growth per extra photo. Target: 3N within 1.2x
   of N.

``--profile`` also runs the scan with ``workers=1`` (every photo in this process) under
cProfile and prints where the time goes. ``--parts`` picks the parts to run. Prints
markdown tables; results are in benchmarks/README.md ("Scan").
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import math
import multiprocessing
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import rawpy
from PIL import Image, ImageDraw

from cropperhead.geometry import Crop, crop_is_inside
from cropperhead.imaging import read_stored_image, resize_long_side
from cropperhead.metadata.xmp import merge_crop_into_xmp
from cropperhead.scan import scan_library
from cropperhead.scan.pool import PHOTOS_PER_WORKER

WIDTH, HEIGHT = 6000, 4000
SMALL = (2000, 1500)
JPEG_QUALITY = 92
NOISE_SIGMA = 6.0
SCAN_TARGET = 1.5
RAW_TARGET = 5.0
MEMORY_TARGET = 1.2
BARE = "bare: Pillow draft decode + Lanczos resize, fork Pool"
BARE_SPAWN = "bare, spawned Pool (the scan's start method)"
SCAN = "`scan_library` (default workers, progress off, fresh output)"
PARTS = ("jpeg", "raw", "memory")


# --------------------------------------------------------------------------- the library


def synthetic_photo(seed: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A photo-like RGB picture: smooth colour field, hard-edged shapes, lines, noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 250), max(2, width // 250), 3), np.uint8)
    picture = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(picture)
    scale = width / WIDTH
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(50, 1500) * scale)
        y1 = y0 + int(rng.integers(50, 1000) * scale)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape((x0, y0, x1, y1), fill=fill)
    for _ in range(200):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        dx, dy = (int(v * scale) for v in rng.integers(-800, 800, 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.line((x0, y0, x0 + dx, y0 + dy), fill=fill, width=int(rng.integers(1, 6)))
    pixels = np.asarray(picture, dtype=np.int16)
    noise = rng.standard_normal((height, width), dtype=np.float32) * NOISE_SIGMA
    return np.clip(pixels + noise.astype(np.int16)[..., None], 0, 255).astype(np.uint8)


def random_crop(rng: np.random.Generator, width: int, height: int) -> Crop:
    """A modest Lightroom crop inside the frame: 70-90% of each side, level or turned <= 3 deg."""
    while True:
        left, top = rng.uniform(0.05, 0.15, 2)
        right, bottom = rng.uniform(0.85, 0.95, 2)
        angle = float(rng.choice([0.0, 0.0, rng.uniform(-3, 3)]))
        crop = Crop(float(left), float(top), float(right), float(bottom), angle)
        if crop_is_inside(crop, width, height):
            return crop


def develop_packet(rng: np.random.Generator) -> bytes:
    """An XMP packet the size of a Lightroom Classic sidecar (about 10 KB), without a crop.

    Real sidecars carry a hundred-odd ``crs:`` settings, tone curves and a history besides
    the crop (11-16 KB for the Lightroom sidecars in ../shared/fixtures/xmp). Their size
    matters to the scan's main process, which holds every pending photo's sidecar bytes.
    """
    names = """Exposure2012 Contrast2012 Highlights2012 Shadows2012 Whites2012 Blacks2012
        Texture Clarity2012 Dehaze Vibrance Saturation Sharpness SharpenRadius SharpenDetail
        SharpenEdgeMasking LuminanceSmoothing ColorNoiseReduction ColorNoiseReductionDetail
        VignetteAmount GrainAmount PostCropVignetteAmount Temperature Tint ParametricShadows
        ParametricDarks ParametricLights ParametricHighlights ParametricShadowSplit
        ParametricMidtoneSplit ParametricHighlightSplit LensProfileEnable
        LensManualDistortionAmount PerspectiveVertical PerspectiveHorizontal PerspectiveRotate
        PerspectiveScale DefringePurpleAmount""".split()
    for colour in ("Red", "Orange", "Yellow", "Green", "Aqua", "Blue", "Purple", "Magenta"):
        names += [f"HueAdjustment{colour}", f"SaturationAdjustment{colour}",
                  f"LuminanceAdjustment{colour}", f"PointColor{colour}Hue"]  # fmt: skip
    for zone in ("Shadow", "Midtone", "Highlight", "Global"):
        names += [f"ColorGrade{zone}Hue", f"ColorGrade{zone}Sat", f"ColorGrade{zone}Lum"]
    settings = "".join(f'\n   crs:{name}="{int(rng.integers(-40, 41)):+d}"' for name in names)
    children = ""
    for curve in ("ToneCurvePV2012", "ToneCurvePV2012Red", "ToneCurvePV2012Green",
                  "ToneCurvePV2012Blue"):  # fmt: skip
        points = sorted(rng.integers(0, 256, (32, 2)).tolist())
        items = "".join(f"\n     <rdf:li>{x}, {y}</rdf:li>" for x, y in points)
        children += f"\n   <crs:{curve}>\n    <rdf:Seq>{items}\n    </rdf:Seq>\n   </crs:{curve}>"
    history = "".join(
        '\n     <rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:'
        f'{int(rng.integers(1 << 62)):032x}" stEvt:when="2024-05-{day:02d}T10:00:00+02:00" '
        'stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.0 (Macintosh)" '
        'stEvt:changed="/metadata"/>'
        for day in range(1, 11)
    )
    children += f"\n   <xmpMM:History>\n    <rdf:Seq>{history}\n    </rdf:Seq>\n   </xmpMM:History>"
    text = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"\n'
        '    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"\n'
        '    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"\n'
        '   xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Macintosh)"\n'
        '   crs:Version="16.0" crs:ProcessVersion="11.0" crs:WhiteBalance="As Shot"\n'
        f'   crs:HasSettings="True"{settings}>{children}\n'
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
    )
    return text.encode("utf-8")


def write_photo(args: tuple[Path, int, int, int]) -> int:
    """Write ``<folder>/IMG_<seed>.jpg`` and its ``IMG_<seed>.xmp``; return the JPEG's bytes."""
    folder, seed, width, height = args
    photo = folder / f"IMG_{seed:04d}.jpg"
    Image.fromarray(synthetic_photo(seed, width, height)).save(photo, quality=JPEG_QUALITY)
    rng = np.random.default_rng(10_000 + seed)
    packet = merge_crop_into_xmp(develop_packet(rng), random_crop(rng, width, height))
    photo.with_suffix(".xmp").write_bytes(packet)
    return photo.stat().st_size


def make_library(folder: Path, photos: int, size: tuple[int, int], pool) -> list[int]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder, seed, *size) for seed in range(photos)]
    return pool.map(write_photo, jobs, chunksize=1)


def scan_workers(photos: int) -> int:
    """The number of decoding processes scan_library picks by default for ``photos``."""
    return min(len(os.sched_getaffinity(0)), max(1, photos // PHOTOS_PER_WORKER))


# --------------------------------------------------------------------------- part 1


def bare_decode(job: tuple[str, int]) -> tuple[int, int]:
    """Open, draft-decode and resize one JPEG, as cheaply as Pillow allows; return its size."""
    path, size = job
    with Image.open(path) as image:
        width, height = image.size
        scale = size / max(width, height)
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        return resize_long_side(image.convert("RGB"), size).size


def time_bare(paths: list[Path], size: int, workers: int, method: str) -> float:
    start = time.perf_counter()
    with multiprocessing.get_context(method).Pool(workers) as pool:
        for _ in pool.imap_unordered(bare_decode, [(str(p), size) for p in paths]):
            pass
    return time.perf_counter() - start


def time_scan(library: Path, out: Path, size: int) -> float:
    start = time.perf_counter()
    summary = scan_library([library], out, size=size, progress=False)
    seconds = time.perf_counter() - start
    if summary.samples != summary.decoded or summary.skipped:
        raise RuntimeError(f"expected one sample per photo, got:\n{summary.format()}")
    return seconds


def jpeg_part(root: Path, args: argparse.Namespace) -> dict:
    library = root / "jpeg"
    paths = sorted(library.glob("*.jpg"))
    sizes = [p.stat().st_size for p in paths]
    sidecars = [p.with_suffix(".xmp").stat().st_size for p in paths]
    workers = scan_workers(len(paths))
    time_bare(paths, args.size, workers, "fork")  # warm the page cache and the libraries
    runs: dict[str, list[float]] = {BARE: [], BARE_SPAWN: [], SCAN: []}
    for i in range(args.repeat):
        runs[BARE].append(time_bare(paths, args.size, workers, "fork"))
        runs[BARE_SPAWN].append(time_bare(paths, args.size, workers, "spawn"))
        runs[SCAN].append(time_scan(library, root / f"out{i}", args.size))
        shutil.rmtree(root / f"out{i}")
    return {"photos": len(paths), "workers": workers, "mb": statistics.mean(sizes) / 1e6,
            "xmp_kb": statistics.mean(sidecars) / 1e3,
            "runs": runs}  # fmt: skip


def jpeg_table(result: dict, size: int) -> list[str]:
    photos, runs = result["photos"], result["runs"]
    median = {name: statistics.median(times) for name, times in runs.items()}
    lines = [
        f"JPEG library: {photos} photos, {WIDTH} x {HEIGHT}, quality {JPEG_QUALITY}, "
        f"{result['mb']:.1f} MB on average, each with a {result['xmp_kb']:.0f} KB "
        f"Lightroom-style XMP sidecar carrying a crop; long side {size}; "
        f"{result['workers']} processes each; {len(runs[SCAN])} alternating runs.",
        "",
        "| path | runs (s) | median s | photos/s | time / bare |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, times in runs.items():
        lines.append(
            f"| {name} | {' / '.join(f'{t:.2f}' for t in times)} | {median[name]:.2f} "
            f"| {photos / median[name]:.2f} | {median[name] / median[BARE]:.2f} |"
        )
    ratio = median[SCAN] / median[BARE]
    met = "met" if ratio <= SCAN_TARGET else "NOT met"
    lines += ["", f"scan / bare = {ratio:.3f} (target <= {SCAN_TARGET}: {met})"]
    return lines


# --------------------------------------------------------------------------- part 2


def load_decode_benchmark() -> ModuleType:
    """benchmarks/decode.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location(
        "cropperhead_bench_decode", Path(__file__).with_name("decode.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_preview(path: Path, size: int) -> Image.Image:
    stored = read_stored_image(path, size)
    if stored.decoder != "raw-preview":
        raise RuntimeError(f"{path.name}: expected the preview path, got {stored.decoder}")
    return resize_long_side(stored.image, size)


def raw_render(path: Path, size: int, half: bool) -> Image.Image:
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(half_size=half, user_flip=0, use_camera_wb=True, output_bps=8)
    return resize_long_side(Image.fromarray(rgb), size)


def raw_part(root: Path, args: argparse.Namespace) -> dict:
    decode = load_decode_benchmark()
    if (decode.WIDTH, decode.HEIGHT) != (WIDTH, HEIGHT):
        raise RuntimeError("benchmarks/decode.py writes DNGs of another size")
    paths = []
    for seed in range(args.raw_files):
        paths.append(root / f"raw{seed}.dng")
        decode.write_dng(paths[-1], synthetic_photo(100 + seed))
    paths_mb = statistics.mean(p.stat().st_size for p in paths) / 1e6
    decoders: dict[str, Callable[[Path, int], Image.Image]] = {
        "preview": raw_preview,
        "half": lambda p, s: raw_render(p, s, half=True),
        "full": lambda p, s: raw_render(p, s, half=False),
    }
    for path in paths:  # warm the page cache (the half render reads every raw byte)
        decoders["half"](path, args.size)
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(args.raw_repeat):
        for path in paths:
            for name, decode_one in decoders.items():
                start = time.perf_counter()
                decode_one(path, args.size)
                times[name].append((time.perf_counter() - start) * 1000)
    return {"files": len(paths), "mb": paths_mb, "times": times}


def raw_table(result: dict) -> list[str]:
    times = result["times"]
    median = {name: statistics.median(t) for name, t in times.items()}
    labels = {
        "preview": "`read_stored_image` (embedded preview, drafted) + resize",
        "half": "`postprocess(half_size=True)` + resize",
        "full": "`postprocess()` (full AHD demosaic) + resize",
    }
    lines = [
        f"RAW: {result['files']} DNGs, {WIDTH} x {HEIGHT}, 16-bit RGGB, {result['mb']:.0f} MB "
        "each, full-size quality-90 JPEG preview; one process; ms per photo.",
        "",
        "| path | runs (ms) | median ms | preview speed-up |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, label in labels.items():
        lines.append(
            f"| {label} | {' / '.join(f'{t:.0f}' for t in times[name])} | "
            f"{median[name]:.0f} | {median[name] / median['preview']:.1f}x |"
        )
    full = median["full"] / median["preview"]
    met = "met" if full >= RAW_TARGET else "NOT met"
    half = median["half"] / median["preview"]
    lines += [
        "",
        f"preview vs full demosaic: {full:.1f}x (target >= {RAW_TARGET:g}x: {met}); "
        f"preview vs half size: {half:.1f}x",
    ]
    return lines


# --------------------------------------------------------------------------- part 3


def high_water_kib(pid: int | str = "self") -> int | None:
    """VmHWM (peak resident set since exec) of a process in KiB, or None when it is gone.

    Not ``getrusage``: Linux carries the parent's high-water mark over a vfork + exec
    into the child's ``ru_maxrss``, so that would report the benchmark's own peak.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def child_pids() -> list[int]:
    me, found = str(os.getpid()), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # field 4 of stat, after the command name in brackets
            found.append(int(entry.name))
    return found


class WorkerPeaks(threading.Thread):
    """Samples the peak RSS of this process's children until stopped."""

    def __init__(self, period_s: float = 0.02, rescan_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period_s, self.rescan_s = period_s, rescan_s
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        pids: list[int] = []
        last_scan = 0.0
        while not self.stop.is_set():
            if time.monotonic() - last_scan >= self.rescan_s:
                pids, last_scan = child_pids(), time.monotonic()
            for pid in pids:
                peak = high_water_kib(pid)
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
            self.stop.wait(self.period_s)


def child_scan(library: Path, out: Path) -> None:
    """Run one scan in this (fresh) process and print its peak memory as JSON."""
    sampler = WorkerPeaks()
    sampler.start()
    start = time.perf_counter()
    summary = scan_library([library], out, progress=False)
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    # The resource tracker is a child too, but far smaller than a decoding worker.
    workers = max(sampler.peaks.values(), default=0)
    print(json.dumps({"photos": summary.decoded, "samples": summary.samples,
                      "main_kib": high_water_kib(), "worker_kib": workers,
                      "children": len(sampler.peaks), "seconds": seconds}))  # fmt: skip


def run_child(library: Path, out: Path) -> dict:
    command = [sys.executable, __file__, "--child-scan", str(library), str(out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_memory_libraries(root: Path, n: int, pool, size: tuple[int, int] = SMALL) -> None:
    small, large = root / "mem_n", root / "mem_3n"
    make_library(large, 3 * n, size, pool)
    small.mkdir()
    for photo in sorted(large.iterdir())[: 2 * n]:  # the first N photos and their sidecars
        os.link(photo, small / photo.name)


def memory_part(root: Path) -> dict:
    small, large = root / "mem_n", root / "mem_3n"
    results = {}
    for name, library in (("N", small), ("3N", large)):
        results[name] = run_child(library, root / f"out_{name}")
        if results[name]["samples"] != results[name]["photos"]:
            raise RuntimeError(f"memory scan of {library} lost photos: {results[name]}")
        # The same scan again over its own output: every photo unchanged, nothing decoded;
        # the whole state is loaded, compared and written back.
        results[f"{name} again"] = run_child(library, root / f"out_{name}")
        if results[f"{name} again"]["photos"] != 0:
            raise RuntimeError(f"rescan of {library} decoded photos: {results[f'{name} again']}")
    return results


def memory_table(result: dict, size: tuple[int, int] = SMALL) -> list[str]:
    lines = [
        f"Memory: {size[0]} x {size[1]} JPEGs with the same sidecars, each scan in a fresh "
        "process (default workers); 'again': the same scan rerun over its output (nothing "
        "changed, nothing decoded).",
        "",
        "| scan | samples | main process peak RSS MiB | largest worker peak RSS MiB | scan s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, run in result.items():
        lines.append(
            f"| {name} | {run['samples']} | {run['main_kib'] / 1024:.1f} "
            f"| {run['worker_kib'] / 1024:.0f} | {run['seconds']:.1f} |"
        )
    small, large = result["N"], result["3N"]
    extra = large["photos"] - small["photos"]
    main = large["main_kib"] / small["main_kib"]
    worker = large["worker_kib"] / small["worker_kib"]
    met = "met" if max(main, worker) <= MEMORY_TARGET else "NOT met"
    per_photo = (large["main_kib"] - small["main_kib"]) / extra
    again = (result["3N again"]["main_kib"] - result["N again"]["main_kib"]) / extra
    lines += [
        "",
        f"3N / N peak RSS: main {main:.3f}, worker {worker:.3f} (target <= {MEMORY_TARGET}: "
        f"{met}); main process growth {per_photo:+.1f} KiB per extra photo "
        f"({again:+.1f} KiB when scanning again)",
    ]
    return lines


# --------------------------------------------------------------------------- profile


def profile_scan(root: Path, size: int, top: int = 25) -> None:
    """The scan with every photo decoded in this process, under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    summary = scan_library([root / "jpeg"], root / "out_profile", size=size, workers=1,
                           progress=False)  # fmt: skip
    profiler.disable()
    print(f"\ncProfile, scan_library(workers=1): {summary.decoded} photos\n")
    stats = io.StringIO()
    pstats.Stats(profiler, stream=stats).sort_stats("tottime").print_stats(top)
    print(stats.getvalue())


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import PIL

    return (
        f"{len(os.sched_getaffinity(0))} usable cores ({os.cpu_count()} CPUs, {cpu}), "
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"rawpy {rawpy.__version__} / LibRaw {'.'.join(map(str, rawpy.libraw_version))}, "
        f"numpy {np.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=16, help="24 MP JPEGs in the library")
    parser.add_argument("--repeat", type=int, default=3, help="alternating bare/scan runs")
    parser.add_argument("--size", type=int, default=512, help="long side of the output")
    parser.add_argument("--raw-files", type=int, default=2, help="24 MP DNGs")
    parser.add_argument("--raw-repeat", type=int, default=2, help="timed passes over the DNGs")
    parser.add_argument("--memory-photos", type=int, default=16, help="N of the memory part")
    parser.add_argument(
        "--memory-size",
        default=f"{SMALL[0]}x{SMALL[1]}",
        help="WIDTHxHEIGHT of the memory part's photos (small ones make a large N quick)",
    )
    parser.add_argument("--quick", action="store_true", help="defaults 8 photos, 2 runs, 1 DNG")
    parser.add_argument("--parts", default="jpeg,raw,memory", help="comma-separated subset")
    parser.add_argument("--profile", action="store_true", help="cProfile a one-process scan")
    parser.add_argument("--child-scan", nargs=2, type=Path, help=argparse.SUPPRESS)
    if parser.parse_known_args()[0].quick:  # smaller defaults; explicit options still win
        parser.set_defaults(photos=8, repeat=2, raw_files=1, raw_repeat=2, memory_photos=8)
    args = parser.parse_args()
    if args.child_scan:
        child_scan(*args.child_scan)
        return
    for name in ("photos", "repeat", "size", "raw_files", "raw_repeat", "memory_photos"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")

    try:
        memory_size = tuple(int(v) for v in args.memory_size.lower().split("x"))
    except ValueError:
        memory_size = ()
    if len(memory_size) != 2 or min(memory_size) < 16:
        raise ValueError(f"--memory-size takes WIDTHxHEIGHT (>= 16), got {args.memory_size!r}")
    parts = set(args.parts.split(","))
    if not parts or parts - set(PARTS):
        raise ValueError(f"--parts takes a subset of {','.join(PARTS)}, got {args.parts!r}")
    load_before = os.getloadavg()
    print("python " + " ".join(sys.argv))
    print(machine())
    with tempfile.TemporaryDirectory(prefix="cropperhead-scan-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
            if "jpeg" in parts or args.profile:
                make_library(root / "jpeg", args.photos, (WIDTH, HEIGHT), pool)
            if "memory" in parts:
                make_memory_libraries(root, args.memory_photos, pool, memory_size)
        print(f"libraries written in {time.perf_counter() - start:.0f} s", flush=True)
        if "jpeg" in parts:
            print("\n" + "\n".join(jpeg_table(jpeg_part(root, args), args.size)), flush=True)
        if "raw" in parts:
            print("\n" + "\n".join(raw_table(raw_part(root, args))), flush=True)
        if "memory" in parts:
            print("\n" + "\n".join(memory_table(memory_part(root), memory_size)), flush=True)
        if args.profile:
            profile_scan(root, args.size)
    load_after = os.getloadavg()
    print(
        "\nload average (1, 5, 15 min): "
        f"before {' '.join(f'{v:.2f}' for v in load_before)}, "
        f"after {' '.join(f'{v:.2f}' for v in load_after)}"
    )


if __name__ == "__main__":
    main()
