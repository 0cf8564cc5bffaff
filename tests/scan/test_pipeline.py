"""The scan's planning step, without running the scan."""


def test_planned_jobs_hold_no_sidecar_bytes(tmp_path):
    from pathlib import Path

    from cropperhead.scan import walker
    from cropperhead.scan.photo import ScanConfig
    from cropperhead.scan.pipeline import _Scan
    from tests.scan.library import PLAIN, make_photo, xmp_packet

    lib = tmp_path / "lib"
    for i in range(3):
        make_photo(lib / f"p{i}.jpg")
        (lib / f"p{i}.xmp").write_bytes(xmp_packet(PLAIN))
    scan = _Scan(ScanConfig(out=tmp_path / "out"), [lib], [], False, 1, False)
    walk = walker.walk_sources([lib])
    rows = scan._read_catalogs()  # none given
    empty = scan.store.load()[0]
    todo = scan._plan(walk, rows, empty, empty, empty)
    assert [Path(t[0]).name for t in todo] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert all(isinstance(field, (str, tuple, type(None))) for t in todo for field in t)
    jobs = list(scan._jobs(todo, rows))
    assert not todo  # consumed as the jobs are built
    assert [job.photo.name for job in jobs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert all(job.input == str(lib.resolve()) for job in jobs)
    for job in jobs:
        (sidecar,) = job.sidecars
        assert sidecar.packet is None
        assert sidecar.path == job.photo.with_suffix(".xmp")
