from threadpoolctl import threadpool_info

from recaudit.metrics.threads import single_threaded_blas


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_blas_runs_on_one_thread_inside_and_is_restored_after():
    import numpy  # noqa: F401  (loads numpy's OpenBLAS)

    before = _blas_threads()
    with single_threaded_blas():
        assert _blas_threads() == {1}
    assert _blas_threads() == before
