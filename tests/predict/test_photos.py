"""cropperhead.predict.photos: the photos ``input=`` names."""

import pytest

from cropperhead.predict.errors import PredictError
from cropperhead.predict.photos import find_photos
from tests.predict.conftest import write_photo


def test_find_photos_from_folders_files_and_globs(photo_dir, tmp_path):
    (photo_dir / ".hidden").mkdir()
    write_photo(photo_dir / ".hidden" / "x.jpg", (20, 20), 0)
    (photo_dir / "notes.txt").write_text("not a photo")
    photos, unsupported = find_photos([photo_dir])
    assert [p.name for p in photos] == ["a.jpg", "b.jpg", "c.jpg", "d.png", "e.jpg"]
    assert unsupported == []  # a walk ignores files that are not pictures
    photos, _ = find_photos([str(photo_dir / "*.jpg")])
    assert [p.name for p in photos] == ["a.jpg", "b.jpg", "c.jpg"]
    photos, _ = find_photos([str(photo_dir / "**" / "e.jpg"), photo_dir / "a.jpg"])
    assert [p.name for p in photos] == ["a.jpg", "e.jpg"]
    _, unsupported = find_photos([photo_dir / "notes.txt"])
    assert [u.source.name for u in unsupported] == ["notes.txt"]
    assert find_photos([str(tmp_path / "*.nef")]) == ([], [])
    with pytest.raises(PredictError, match="no such file"):
        find_photos([tmp_path / "missing"])
