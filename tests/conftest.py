"""Test configuration: `--device=cpu|opencl:N|all` picks where tests that take the `device` fixture run."""
import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="cpu (default), opencl:N, cuda:N, or all (cpu plus every OpenCL device found but oclgrind)")


def _selected_devices(config) -> list[str]:
    choice = config.getoption("--device")
    if choice != "all":
        return [d.strip() for d in choice.split(",")]
    from distgrad.backends import opencl
    # The oclgrind simulator (listed with DISTGRAD_OPENCL_OCLGRIND=1) is far too slow for the whole suite; it runs the
    # tests marked `oclgrind` (tests/test_oclgrind.py).
    return ["cpu"] + [f"opencl:{i.index}" for i in opencl.devices() if i.platform != "Oclgrind"]


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _selected_devices(metafunc.config))


@pytest.fixture
def require_dtype(device):
    """Call with a dtype: skips the test, saying why, when `device` lacks it (float16 without cl_khr_fp16)."""
    def require(dtype) -> None:
        import distgrad as dg
        d = dg.device(device)
        ext = {"float16": "fp16", "float64": "fp64"}.get(dtype.name)
        if d.type == "cpu" or ext is None:
            return
        from distgrad.backends import opencl
        if not getattr(opencl.open_device(d.index, gpu_only=d.type == "cuda").info, ext):
            pytest.skip(f"{d} lacks cl_khr_{ext}")
    return require
