"""How the worker pool starts its processes."""


def test_workers_are_forked_only_when_that_is_safe():
    import sys
    import threading

    from cropperhead.scan.pool import _pool_context

    expected = "spawn" if "torch" in sys.modules or not sys.platform.startswith("linux") else None
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _pool_context().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()
    if expected is None and threading.active_count() == 1:
        assert _pool_context().get_start_method() == "fork"
