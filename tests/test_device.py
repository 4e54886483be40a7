import pytest
import torch

from engine.device import (
    autocast_dtype,
    batch_size_for_memory,
    free_memory_bytes,
    is_out_of_memory,
    map_batches,
    select_device,
)
from engine.errors import DakdError


def test_auto_selects_an_available_device_and_says_why():
    choice = select_device("auto")
    if torch.cuda.is_available():
        assert choice.device.type == "cuda"
    else:
        assert choice.device.type in ("mps", "cpu")
    assert choice.reason.startswith("auto:") and choice.name
    assert select_device("cpu").reason == "requested cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_unavailable_or_unknown_device_is_a_clear_error():
    with pytest.raises(DakdError, match="--device cuda: no CUDA GPU"):
        select_device("cuda")
    with pytest.raises(DakdError, match="unknown device 'tpu'"):
        select_device("tpu")


def test_precision_defaults_to_fp32_on_cpu_and_half_on_gpus():
    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("mps")) == torch.float16
    assert autocast_dtype(torch.device("cuda"), "fp16") == torch.float16
    with pytest.raises(DakdError, match="for GPUs"):
        autocast_dtype(torch.device("cpu"), "bf16")
    with pytest.raises(DakdError, match="unknown precision"):
        autocast_dtype(torch.device("cpu"), "int8")


def test_batch_size_from_free_memory_is_a_power_of_two_within_bounds():
    assert batch_size_for_memory(1000, 10, max_batch=64, fraction=1.0) == 64
    assert batch_size_for_memory(100, 10, max_batch=64, fraction=1.0) == 8
    assert batch_size_for_memory(5, 10, max_batch=64) == 1
    assert batch_size_for_memory(None, 10, max_batch=16) == 16
    assert free_memory_bytes(torch.device("cpu")) > 0


def test_map_batches_halves_on_out_of_memory_and_keeps_the_smaller_size():
    calls = []

    def step(start, stop):  # a step that only fits 3 items at a time, failing like CUDA does
        calls.append(stop - start)
        if stop - start > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return list(range(start, stop))

    results, batch = map_batches(step, total=10, batch_size=16, device=torch.device("cpu"))
    assert [x for part in results for x in part] == list(range(10))
    assert batch == 2 and calls[:4] == [10, 8, 4, 2]


def test_map_batches_gives_up_clearly_and_passes_other_errors_through():
    def never_fits(start, stop):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(DakdError, match="out of memory on cpu even with a batch of 1"):
        map_batches(never_fits, total=4, batch_size=4, device=torch.device("cpu"))

    def broken(start, stop):
        raise ValueError("not memory")

    with pytest.raises(ValueError):
        map_batches(broken, total=4, batch_size=4, device=torch.device("cpu"))
    assert is_out_of_memory(MemoryError()) and not is_out_of_memory(ValueError("out of memory"))
