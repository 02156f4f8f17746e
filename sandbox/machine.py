"""The machine a figure was measured on: CPU model, cores, instruction
sets, and how much of its CPU time other work took meanwhile.

Speed figures mean little without it (machines here range from AVX2 to
AMX). Linux's /proc/cpuinfo and /proc/stat; elsewhere the flags and the
load are unknown. No TensorFlow.
"""
import functools
import os
import pathlib
import platform
import time
from typing import NamedTuple

# (name printed, /proc/cpuinfo flag), from the oldest
INSTRUCTION_SETS = (('AVX2', 'avx2'), ('AVX-512', 'avx512f'),
                    ('AVX512_BF16', 'avx512_bf16'), ('AMX', 'amx_tile'))
# Flags of native bfloat16 arithmetic on x86 CPUs
BF16_FLAGS = ('avx512_bf16', 'amx_bf16')
# Variables that cap the instructions oneDNN, MKL and PyTorch's ATen use
ISA_CAPS = ('ONEDNN_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS',
            'ATEN_CPU_CAPABILITY')


@functools.lru_cache(maxsize=None)
def cpu_info(path='/proc/cpuinfo'):
    """(CPU model name, set of flags) of the first CPU listed."""
    try:
        text = pathlib.Path(path).read_text()
    except OSError:
        return platform.processor() or platform.machine(), frozenset()
    fields = dict(line.split(':', 1) for line in text.split('\n\n')[0]
                  .splitlines() if ':' in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return (fields.get('model name', platform.machine()),
            frozenset(fields.get('flags', '').split()))


def instruction_sets(flags=None):
    """The INSTRUCTION_SETS names this CPU has, e.g. ['AVX2', 'AVX-512']."""
    flags = cpu_info()[1] if flags is None else flags
    return [name for name, flag in INSTRUCTION_SETS if flag in flags]


def native_bf16(flags=None):
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
    flags = cpu_info()[1] if flags is None else flags
    return any(flag in flags for flag in BF16_FLAGS)


def isa_caps(environ=None):
    """The instruction caps set: 'ONEDNN_MAX_CPU_ISA=AVX2', '' if none."""
    environ = os.environ if environ is None else environ
    return ' '.join(f'{k}={environ[k]}' for k in ISA_CAPS if environ.get(k))


def describe(environ=None):
    """'Intel(R) Xeon(R) Processor, 2 CPUs, AVX2 AVX-512 AVX512_BF16 AMX'.

    A cap on the instructions the libraries use is named after the sets.
    """
    model, flags = cpu_info()
    isa = ' '.join(instruction_sets(flags)) or 'no AVX2 (or flags unknown)'
    caps = isa_caps(environ)
    capped = f' (capped: {caps})' if caps else ''
    return f'{model}, {os.cpu_count()} CPUs, {isa}{capped}'


# /proc/stat's first line: cpu user nice system idle iowait irq softirq
# steal (guest time is counted in user and nice already)
_STAT_FIELDS = 8
_BUSY_FIELDS = (0, 1, 2, 5, 6)
_STEAL_FIELD = 7


class CpuClock(NamedTuple):
    """CPU seconds so far: the machine's (every CPU) and this process's."""
    busy: float   # any process running, this one included
    steal: float  # the hypervisor running other machines on these CPUs
    total: float  # every CPU's time, idle included
    own: float    # this process's threads


def cpu_clock(path='/proc/stat'):
    """The CpuClock now, or None where /proc/stat cannot be read."""
    try:
        fields = pathlib.Path(path).read_text().split('\n', 1)[0].split()
        ticks = [int(x) for x in fields[1:1 + _STAT_FIELDS]]
    except (OSError, ValueError):
        return None
    if fields[:1] != ['cpu'] or len(ticks) < _STAT_FIELDS:
        return None
    hz = os.sysconf('SC_CLK_TCK')
    return CpuClock(busy=sum(ticks[i] for i in _BUSY_FIELDS) / hz,
                    steal=ticks[_STEAL_FIELD] / hz, total=sum(ticks) / hz,
                    own=time.process_time())


def load_between(start, end):
    """{'others_cpu_share', 'steal_share'}: the shares of the machine's CPU
    time that other processes and the hypervisor took from `start` to
    `end` (CpuClocks); {} if either is unknown or no time passed."""
    if start is None or end is None or end.total <= start.total:
        return {}
    total = end.total - start.total
    others = (end.busy - start.busy) - (end.own - start.own)
    return {'others_cpu_share': min(1.0, max(0.0, others / total)),
            'steal_share': (end.steal - start.steal) / total}
