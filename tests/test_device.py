import pytest
import torch

from cnnlab import device as dev


def test_default_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.get_device().type == "mps"


def test_env_override_cpu(monkeypatch):
    monkeypatch.setenv(dev.ENV_VAR, "CPU")
    assert dev.get_device() == torch.device("cpu")


@pytest.mark.parametrize(
    "value, words", [("tpu", "not a device name"), ("cuda", "no CUDA GPU"), ("xla", "not supported")]
)
def test_env_override_errors_name_the_problem(monkeypatch, value, words):
    monkeypatch.setenv(dev.ENV_VAR, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(dev.DeviceError) as err:
        dev.get_device()
    assert words in str(err.value) and value in str(err.value)


def test_mps_override_unavailable(monkeypatch):
    monkeypatch.setenv(dev.ENV_VAR, "mps")
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    with pytest.raises(dev.DeviceError, match="MPS"):
        dev.get_device()


def test_describe_cpu_is_one_line(monkeypatch):
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    text = dev.describe()
    assert "\n" not in text and text.startswith("cpu (") and torch.__version__ in text and dev.ENV_VAR in text


def test_scale_budget_cpu_unchanged_and_gpu_grows():
    assert dev.scale_budget(100, 16, "cpu") == dev.Budget(100, 16)
    gpu = dev.scale_budget(100, 16, "cuda")
    assert gpu.samples == 100 * 16 * dev.DEVICE_SPEEDUP["cuda"]
    assert gpu.batch_size == 256 and gpu.steps == 100
    capped = dev.scale_budget(10, 64, "cuda", max_batch_size=128)
    assert capped.batch_size == 128 and capped.steps == 80


def test_scale_budget_rejects_empty_budget():
    with pytest.raises(ValueError, match="steps"):
        dev.scale_budget(0, 16, "cpu")
