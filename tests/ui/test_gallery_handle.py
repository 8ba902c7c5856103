"""One gallery and one search index per handle, replaced when the gallery changes."""

from sketchlab.ui.gallery_handle import GalleryHandle


def test_every_search_shares_the_open_gallerys_index(tmp_path):
    first = f"sqlite:///{tmp_path / 'a.sqlite'}"
    h = GalleryHandle(first)
    try:
        m = h.matcher()
        assert h.matcher() is m and m.gallery is h.get()  # built once, over the open one
        h.set_url(first)  # the same gallery: kept
        assert h.matcher() is m
        h.set_url(f"sqlite:///{tmp_path / 'b.sqlite'}")
        other = h.matcher()
        assert other is not m and other.gallery is h.get()
        assert h.get().url.endswith("b.sqlite")
        h.close()
        assert h.matcher() is not other  # reopened: a fresh index over the fresh gallery
    finally:
        h.close()
