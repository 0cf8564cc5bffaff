"""predict.py end to end: options, outputs, write-back round trip through the scan, errors."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cropperhead.cli import main as cropperhead_main
from cropperhead.geometry import Crop, crop_is_inside, crop_output_size_px
from cropperhead.predict.errors import ModelLoadError, PredictError
from cropperhead.predict.options import PredictOptions
from cropperhead.predict.run import predict_to_file
from tests.predict.conftest import write_photo

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _options(ckpt, inputs, output, **kw):
    kw.setdefault("num_workers", 0)
    kw.setdefault("progress", False)
    return PredictOptions(ckpt_path=ckpt, inputs=[str(i) for i in inputs], output=output, **kw)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- outputs


def test_jsonl_records_follow_the_contract(tiny_ckpt, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"garbage")
    out = tmp_path / "out" / "pred.jsonl"
    summary = predict_to_file(_options(tiny_ckpt, [photo_dir], out, confidence=True))
    assert summary.predicted == 5
    assert dict(summary.skipped) == {"unreadable": 1}
    assert summary.output == out.resolve()
    text = summary.format()
    assert "predicted 5 photos" in text
    assert "skipped 1 (unreadable 1)" in text
    assert str(out.resolve()) in text
    records = _lines(out)
    assert [Path(r["source"]).name for r in records] == [
        "a.jpg",
        "b.jpg",
        "c.jpg",
        "d.png",
        "e.jpg",
    ]
    for r in records:
        assert Path(r["source"]).is_absolute()
        assert type(r["width"]) is int
        assert type(r["height"]) is int
        crop = Crop.from_dict(r["crop"])
        assert crop_is_inside(crop, r["width"], r["height"], tol_px=1e-3)
        assert len(r["corners"]) == 4
        assert 0 <= r["confidence"] <= 1
        assert "xmp" not in r
        assert "model_crop" not in r
    assert (records[1]["width"], records[1]["height"]) == (64, 96)  # EXIF 6 turns it


def test_csv_has_the_same_fields_flat(tiny_ckpt, photo_dir, tmp_path):
    jsonl, table = tmp_path / "p.jsonl", tmp_path / "p.csv"
    predict_to_file(_options(tiny_ckpt, [photo_dir], jsonl))
    predict_to_file(_options(tiny_ckpt, [photo_dir], table, format="csv"))
    with table.open() as fh:
        rows = list(csv.DictReader(fh))
    records = _lines(jsonl)
    assert len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        assert row["source"] == rec["source"]
        assert int(row["width"]) == rec["width"]
        for key, value in rec["crop"].items():
            assert float(row[key]) == pytest.approx(value, abs=1e-9)
        assert float(row["br_x"]) == pytest.approx(rec["corners"][2][0], abs=1e-9)


def test_aspect_lock(tiny_ckpt, photo_dir, tmp_path):
    out = tmp_path / "locked.jsonl"
    predict_to_file(_options(tiny_ckpt, [photo_dir], out, aspect="4:5"))
    for r in _lines(out):
        crop = Crop.from_dict(r["crop"])
        w, h = crop_output_size_px(crop, r["width"], r["height"])
        assert w / h == pytest.approx(0.8, rel=1e-6)
        assert crop.angle == pytest.approx(r["model_crop"]["angle"], abs=1e-8)
        assert r["aspect"] == "4:5"
        assert crop_is_inside(crop, r["width"], r["height"], tol_px=1e-3)
    out = tmp_path / "original.jsonl"
    predict_to_file(_options(tiny_ckpt, [photo_dir / "b.jpg"], out, aspect="original"))
    (r,) = _lines(out)
    w, h = crop_output_size_px(Crop.from_dict(r["crop"]), r["width"], r["height"])
    assert w / h == pytest.approx(r["width"] / r["height"], rel=1e-6)


def test_write_back_round_trips_through_the_scan(tiny_ckpt, photo_dir, tmp_path):
    """predict -> XMP sidecars -> `cropperhead scan` gives back the predicted display crops."""
    for name, orientation in (("f.jpg", 5), ("g.jpg", 7), ("h.jpg", 2), ("i.jpg", 4)):
        write_photo(photo_dir / name, (90, 60), ord(name[0]), orientation=orientation)
    images = {p: p.read_bytes() for p in photo_dir.rglob("*") if p.is_file()}
    out = tmp_path / "pred.jsonl"
    summary = predict_to_file(_options(tiny_ckpt, [photo_dir], out, write_xmp=True))
    assert summary.xmp == {"written": 9}
    records = _lines(out)
    assert all(r["xmp"]["action"] == "written" for r in records)
    assert {Path(r["xmp"]["files"][0]).name for r in records} >= {"a.xmp", "e.xmp", "d.xmp"}
    for path, data in images.items():  # image files are never modified
        assert path.read_bytes() == data
    dataset = tmp_path / "ds"
    assert cropperhead_main(["scan", str(photo_dir), "--out", str(dataset), "--workers", "1"]) == 0
    scanned = {r["source"]: r for r in _lines(dataset / "manifest.jsonl")}
    assert len(scanned) == len(records) == 9
    for r in records:
        s = scanned[r["source"]]
        assert (s["width"], s["height"]) == (r["width"], r["height"])
        assert s["origin"] == "xmp-sidecar"
        np.testing.assert_allclose(
            Crop.from_dict(s["crop"]).as_array(), Crop.from_dict(r["crop"]).as_array(), atol=1e-5
        )
    # Predicting again with the same model changes nothing.
    again = predict_to_file(_options(tiny_ckpt, [photo_dir], tmp_path / "p2.jsonl", write_xmp=True))
    assert again.xmp == {"unchanged": 9}


def test_dry_run_prints_and_writes_nothing(tiny_ckpt, photo_dir, tmp_path):
    before = sorted(p.name for p in photo_dir.rglob("*"))
    lines = []
    summary = predict_to_file(
        _options(tiny_ckpt, [photo_dir], tmp_path / "p.jsonl", write_xmp=True, dry_run=True),
        echo=lines.append,
    )
    assert sorted(p.name for p in photo_dir.rglob("*")) == before
    assert summary.xmp == {"would-write": 5}
    assert "dry run: nothing written" in summary.format()
    assert len(lines) == 5
    assert all("would write" in line and "crop none ->" in line for line in lines)


def test_report_is_written_beside_the_predictions(tiny_ckpt, photo_dir, tmp_path):
    pytest.importorskip("cropperhead.report")
    out = tmp_path / "pred.jsonl"
    summary = predict_to_file(_options(tiny_ckpt, [photo_dir], out, report=True))
    assert summary.report_error is None
    assert summary.report == tmp_path / "pred.html"
    assert summary.report.is_file()


def test_user_errors(tiny_ckpt, photo_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(PredictError, match="no photos found"):
        predict_to_file(_options(tiny_ckpt, [empty], tmp_path / "p.jsonl"))
    with pytest.raises(ModelLoadError, match="no checkpoint at"):
        predict_to_file(_options(tmp_path / "none.ckpt", [photo_dir], tmp_path / "p.jsonl"))
    with pytest.raises(PredictError, match="aspect"):
        predict_to_file(_options(tiny_ckpt, [photo_dir], tmp_path / "p.jsonl", aspect="wide"))
    with pytest.raises(PredictError, match="format"):
        predict_to_file(_options(tiny_ckpt, [photo_dir], tmp_path / "p.x", format="xml"))
    with pytest.raises(PredictError, match="use format=jsonl"):
        predict_to_file(
            _options(tiny_ckpt, [photo_dir], tmp_path / "p.csv", format="csv", report=True)
        )


# --------------------------------------------------------------------------- the command


def _predict(cwd, *args, timeout=600):
    return subprocess.run(
        [sys.executable, str(REPO / "predict.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_predict_py_runs_and_summarises(tiny_ckpt, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"garbage")
    proc = _predict(tmp_path, f"ckpt_path={tiny_ckpt}", f"input={photo_dir}", "progress=false")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "predicted 5 photos" in proc.stdout
    assert "skipped 1 (unreadable 1)" in proc.stdout
    # The default output: predictions.jsonl in Hydra's run folder under the working directory.
    (out,) = (tmp_path / "logs" / "predict" / "runs").glob("*/predictions.jsonl")
    assert f"predictions: {out}" in proc.stdout
    assert len(_lines(out)) == 5


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-checkpoint", "no checkpoint at"),
        ("empty-input", "no photos found"),
        ("bad-option", "aspect must be"),
        ("not-a-checkpoint", "is not a checkpoint"),
        # A typo in a yes/no option must not turn into "yes" (bool("ture") is True).
        ("write_xmp=ture", "write_xmp must be true or false, got 'ture'"),
        ("overwrite=flase", "overwrite must be true or false, got 'flase'"),
        ("batch_size=abc", "batch_size must be a whole number"),
    ],
)
def test_predict_py_user_errors_are_one_line(case, message, tiny_ckpt, photo_dir, tmp_path):
    ckpt, inputs, extra = tiny_ckpt, photo_dir, []
    if case == "missing-checkpoint":
        ckpt = tmp_path / "missing.ckpt"
    elif case == "empty-input":
        inputs = tmp_path / "empty"
        inputs.mkdir()
    elif case == "bad-option":
        extra = ["aspect=wide"]
    elif "=" in case:
        extra = [case, "write_xmp=true"] if case.startswith("overwrite") else [case]
    else:
        ckpt = tmp_path / "notes.ckpt"
        ckpt.write_text("these are not weights")
    proc = _predict(tmp_path, f"ckpt_path={ckpt}", f"input={inputs}", *extra)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[-1]]  # one line: the error, nothing else
    assert lines[-1].startswith("error: ")
    assert message in lines[-1]
    assert not list(photo_dir.rglob("*.xmp"))  # nothing was written


@pytest.mark.slow
@pytest.mark.parametrize("case", ["other-model", "incompatible-version"])
def test_predict_py_refuses_foreign_checkpoints(case, tiny_ckpt, photo_dir, tmp_path):
    import torch

    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    if case == "other-model":
        ckpt["state_dict"] = {"encoder.weight": torch.zeros(2, 2)}
        message = "another model"
    else:
        ckpt["hyper_parameters"]["zoom_head"] = True
        message = "incompatible CropperHead version"
    path = tmp_path / f"{case}.ckpt"
    torch.save(ckpt, path)
    proc = _predict(tmp_path, f"ckpt_path={path}", f"input={photo_dir}")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_then_predict_then_export_then_predict(tmp_path, photo_dir):
    """The workflow as subprocesses: train.py 1 epoch, predict.py, export, predict.py again."""
    from tests.helpers import make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "data", n=12)
    run = tmp_path / "run"
    train = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            f"data.root={data}",
            "data.demo=false",
            "data.image_size=64",
            "data.batch_size=4",
            "data.num_workers=0",
            "model.pretrained=false",
            "trainer.max_epochs=1",
            "logger=csv",
            f"paths.output_dir={run}",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    out = tmp_path / "pred.jsonl"
    proc = _predict(tmp_path, f"ckpt_path={ckpt}", f"input={photo_dir}", f"output={out}")
    assert proc.returncode == 0, proc.stderr
    records = _lines(out)
    assert len(records) == 5
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "cropperhead.cli",
            "export",
            str(ckpt),
            "--out",
            str(tmp_path / "m.onnx"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert exported.returncode == 0, exported.stderr
    out2 = tmp_path / "pred-onnx.jsonl"
    proc = _predict(
        tmp_path, f"ckpt_path={tmp_path / 'm.onnx'}", f"input={photo_dir}", f"output={out2}"
    )
    assert proc.returncode == 0, proc.stderr
    # Edges are fractions, the angle is in degrees: each gets a tolerance in its own unit,
    # both far below a pixel of any photo (1e-3 deg turns a 6000 px side's corner by
    # 0.1 px). ONNX Runtime's and torch's float32 kernels differ in the last bits.
    for a, b in zip(records, _lines(out2), strict=True):
        edges_a, edges_b = (
            Crop.from_dict(a["crop"]).as_array(),
            Crop.from_dict(b["crop"]).as_array(),
        )
        np.testing.assert_allclose(edges_a[:4], edges_b[:4], atol=1e-4)
        np.testing.assert_allclose(edges_a[4], edges_b[4], atol=1e-3)


def test_file_names_that_are_not_utf8(tiny_ckpt, tmp_path):
    """A Latin-1 name (lone surrogates in Python): predicted, written back, scanned, trained."""
    import os

    from cropperhead.data.datamodule import CropDataModule

    folder = tmp_path / "photos"
    for i in range(3):
        write_photo(folder / f"p{i}.jpg", (96, 64), i + 1)
        os.rename(folder / f"p{i}.jpg", folder / os.fsdecode(b"caf\xe9%d.jpg" % i))
    out = tmp_path / "pred.jsonl"
    summary = predict_to_file(_options(tiny_ckpt, [folder], out, write_xmp=True, report=True))
    assert summary.predicted == 3
    assert summary.xmp == {"written": 3}
    assert summary.report_error is None
    assert "caf\\udce90.jpg" in summary.report.read_bytes().decode("utf-8")
    out.read_bytes().decode("utf-8")
    records = _lines(out)
    for r in records:
        assert Path(r["source"]).is_file()
        assert Path(r["xmp"]["files"][0]).is_file()
        assert (
            Path(r["xmp"]["files"][0])
            .name.encode("utf-8", "surrogateescape")
            .startswith(b"caf\xe9")
        )
    table = tmp_path / "pred.csv"
    predict_to_file(_options(tiny_ckpt, [folder], table, format="csv"))
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["source"].rsplit("/", 1)[1] for row in rows] == [
        "caf\\udce90.jpg",
        "caf\\udce91.jpg",
        "caf\\udce92.jpg",
    ]
    dataset = tmp_path / "ds"
    assert cropperhead_main(["scan", str(folder), "--out", str(dataset), "--workers", "1"]) == 0
    scanned = {r["source"]: r for r in _lines(dataset / "manifest.jsonl")}
    assert set(scanned) == {r["source"] for r in records}
    for r in records:
        np.testing.assert_allclose(
            Crop.from_dict(scanned[r["source"]]["crop"]).as_array(),
            Crop.from_dict(r["crop"]).as_array(),
            atol=1e-5,
        )
    datamodule = CropDataModule(root=str(dataset), image_size=32, num_workers=0)
    datamodule.setup("fit")
    assert sum(len(v) for v in datamodule.splits.values()) == 3


# --------------------------------------------------------------------------- what it may replace


def test_output_may_not_be_an_input_photo(tiny_ckpt, photo_dir):
    photo = photo_dir / "b.jpg"
    data = photo.read_bytes()
    for overwrite in (False, True):
        options = _options(tiny_ckpt, [photo_dir], photo, overwrite_output=overwrite)
        with pytest.raises(PredictError, match="is one of the inputs"):
            predict_to_file(options)
        assert photo.read_bytes() == data


def test_output_replaces_only_our_own_files(tiny_ckpt, photo_dir, tmp_path):
    from tests.helpers import assert_untouched, plant_user_files

    planted = plant_user_files(tmp_path / "out")
    planted |= {p: p.read_bytes() for p in photo_dir.rglob("*") if p.is_file()}
    for user_file in (tmp_path / "out" / "notes.txt", tmp_path / "out" / "my_photo.jpg"):
        with pytest.raises(PredictError, match="not a predictions file CropperHead wrote"):
            predict_to_file(_options(tiny_ckpt, [photo_dir], user_file))
    assert_untouched(planted)
    ours = tmp_path / "out" / "pred.jsonl"
    predict_to_file(_options(tiny_ckpt, [photo_dir], ours))
    first = ours.read_bytes()
    predict_to_file(_options(tiny_ckpt, [photo_dir / "a.jpg"], ours))  # a rerun replaces it
    assert len(_lines(ours)) == 1
    assert ours.read_bytes() != first
    csv_out = tmp_path / "out" / "pred.csv"
    predict_to_file(_options(tiny_ckpt, [photo_dir], csv_out, format="csv"))
    predict_to_file(_options(tiny_ckpt, [photo_dir], csv_out, format="csv"))
    assert_untouched(planted)
    # The user may say so.
    notes = tmp_path / "out" / "notes.txt"
    predict_to_file(_options(tiny_ckpt, [photo_dir], notes, overwrite_output=True))
    assert len(_lines(notes)) == 5


def test_report_path_replaces_only_our_own_files(tiny_ckpt, photo_dir, tmp_path):
    notes = tmp_path / "notes.html"
    notes.write_text("<html>mine</html>")
    out = tmp_path / "pred.jsonl"
    for report_path in (notes, photo_dir / "a.jpg", out):
        before = report_path.read_bytes() if report_path.exists() else None
        options = _options(tiny_ckpt, [photo_dir], out, report=True, report_path=report_path)
        with pytest.raises(PredictError, match="report"):
            predict_to_file(options)
        assert (report_path.read_bytes() if report_path.exists() else None) == before
    report = tmp_path / "report.html"
    for _ in range(2):  # the second run replaces the first run's page
        predict_to_file(_options(tiny_ckpt, [photo_dir], out, report=True, report_path=report))
    assert report.is_file()


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(
    tiny_ckpt, photo_dir, tmp_path, monkeypatch, capsys
):
    import errno

    from cropperhead.predict import records, run

    out = tmp_path / "pred.jsonl"
    predict_to_file(_options(tiny_ckpt, [photo_dir], out))
    before = out.read_bytes()

    def full(self, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records.RecordWriter, "write", full)
    cfg = {"ckpt_path": str(tiny_ckpt), "input": str(photo_dir), "output": str(out)}
    cfg |= {"num_workers": 0, "progress": False}
    with pytest.raises(SystemExit) as exit_info:
        run.run_prediction(cfg)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot write the predictions to {out}: No space left on device"]
    assert out.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_sidecars_that_cannot_be_written_fail_the_run(
    tiny_ckpt, photo_dir, tmp_path, monkeypatch, capsys
):
    from cropperhead.metadata import xmp
    from cropperhead.predict import run

    def refuse(path, crop, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(xmp, "write_sidecar_crop", refuse)
    cfg = {"ckpt_path": str(tiny_ckpt), "input": str(photo_dir), "write_xmp": True}
    cfg |= {"output": str(tmp_path / "p.jsonl"), "num_workers": 0, "progress": False}
    with pytest.raises(SystemExit) as exit_info:
        run.run_prediction(cfg)
    assert exit_info.value.code == 1
    assert "error: 5 sidecar(s) could not be written" in capsys.readouterr().err


def _children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found += [int(p) for p in text.split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_killing_predict_leaves_no_decoding_workers(tiny_ckpt, tmp_path):
    """kill -9 of predict.py used to leave its DataLoader workers alive for good."""
    import os
    import signal
    import time

    for i in range(200):
        write_photo(tmp_path / "photos" / f"p{i:03d}.jpg", (640, 480), i)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "predict.py"),
            f"ckpt_path={tiny_ckpt}",
            f"input={tmp_path / 'photos'}",
            "num_workers=2",
            "progress=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, "predict.py never started its workers"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [w for w in alive if Path(f"/proc/{w}").exists() and not _zombie(w)]
    assert alive == []


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return False


def test_input_list_and_orientations_for_the_lightroom_plug_in(tiny_ckpt, photo_dir, tmp_path):
    """The plug-in passes its photos as a JSON list and Lightroom's orientation of each."""
    from cropperhead.geometry import crop_display_to_stored
    from cropperhead.predict.run import run_prediction

    listing = tmp_path / "photos.json"
    listing.write_text(json.dumps([str(photo_dir / "a.jpg"), str(photo_dir / "b.jpg")]))
    turned = tmp_path / "orientations.json"
    turned.write_text(json.dumps({str(photo_dir / "b.jpg"): 6}))
    out = tmp_path / "pred.jsonl"
    cfg = {"ckpt_path": str(tiny_ckpt), "input": "???", "input_list": str(listing)}
    cfg |= {"orientations": str(turned), "output": str(out), "num_workers": 0}
    from omegaconf import OmegaConf

    run_prediction(OmegaConf.create({**cfg, "progress": False}))  # input=??? as in Hydra
    plain, rotated = _lines(out)
    assert plain["orientation"] == 1
    assert rotated["orientation"] == 6
    assert (rotated["width"], rotated["height"]) == (plain["height"], plain["width"])
    for record in (plain, rotated):
        lr = record["lightroom"]
        assert lr["orientation"] == {1: "AB", 6: "BC"}[record["orientation"]]
        w, h = record["width"], record["height"]
        stored_w, stored_h = (h, w) if record["orientation"] == 6 else (w, h)
        expected = crop_display_to_stored(
            Crop.from_dict(record["crop"]), stored_w, stored_h, record["orientation"]
        )
        got = [lr[k] for k in ("CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle")]
        assert np.allclose(got, expected.as_array(), atol=1e-8)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({str(photo_dir / "b.jpg"): 9}))
    with pytest.raises(PredictError, match="orientation must be 1..8"):
        predict_to_file(_options(tiny_ckpt, [photo_dir], out, orientations=bad))


# --------------------------------------------------------------------------- the habits


def test_auto_aspect_snaps_to_the_photographers_ratio(centre_ckpt, photo_dir, tmp_path):
    from cropperhead.geometry.aspect import crop_aspect

    out = tmp_path / "auto.jsonl"
    predict_to_file(_options(centre_ckpt, [photo_dir], out, crop_threshold=0.3))
    records = _lines(out)
    assert len(records) == 5
    for r in records:
        assert r["aspect"] == "1:1"  # 4:5 scores higher but is not in the habit
        crop = Crop.from_dict(r["crop"])
        assert crop_aspect(crop, r["width"], r["height"]) == pytest.approx(1.0, rel=1e-4)
        assert "model_crop" in r
        assert r["p_crop"] == pytest.approx(0.4, abs=1e-5)
        assert "leave_uncropped" not in r
        assert 0 <= r["confidence"] <= 1
    free = tmp_path / "free.jsonl"
    predict_to_file(_options(centre_ckpt, [photo_dir], free, aspect="free", crop_threshold=0.3))
    assert [r["crop"] for r in _lines(free)] == [r["model_crop"] for r in records]
    assert all("aspect" not in r for r in _lines(free))


def test_photos_the_photographer_would_leave_alone_get_no_sidecar(centre_ckpt, photo_dir, tmp_path):
    out = tmp_path / "p.jsonl"
    summary = predict_to_file(_options(centre_ckpt, [photo_dir], out, write_xmp=True))
    records = _lines(out)
    assert all(r["leave_uncropped"] is True for r in records)  # p_crop 0.4 < 0.5
    assert all("xmp" not in r for r in records)
    assert not list(photo_dir.rglob("*.xmp"))
    assert dict(summary.xmp) == {"left uncropped (p_crop below crop_threshold)": 5}
    csv_out = tmp_path / "p.csv"
    predict_to_file(_options(centre_ckpt, [photo_dir], csv_out, format="csv", crop_threshold=0.3))
    with csv_out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {"p_crop", "leave_uncropped", "aspect", "confidence"} <= set(rows[0])
    assert {row["leave_uncropped"] for row in rows} == {"False"}
    # A lower threshold writes them.
    predict_to_file(_options(centre_ckpt, [photo_dir], out, write_xmp=True, crop_threshold=0.3))
    assert len(list(photo_dir.rglob("*.xmp"))) == 5


def test_crop_threshold_is_checked(centre_ckpt, photo_dir, tmp_path):
    from cropperhead.predict.run import run_prediction

    cfg = {"ckpt_path": str(centre_ckpt), "input": str(photo_dir), "crop_threshold": "1.5"}
    with pytest.raises(SystemExit) as info:
        run_prediction(cfg)
    assert info.value.code == 2
