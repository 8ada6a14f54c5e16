"""Test configuration: `--device=cpu|opencl:N|all` picks where tests that take the `device` fixture run."""


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="cpu (default), opencl:N, cuda:N, or all (cpu plus every OpenCL device found)")


def _selected_devices(config) -> list[str]:
    choice = config.getoption("--device")
    if choice != "all":
        return [d.strip() for d in choice.split(",")]
    from distgrad import opencl
    return ["cpu"] + [f"opencl:{i}" for i in range(opencl.device_count())] if opencl.is_available() else ["cpu"]


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _selected_devices(metafunc.config))
