"""The machine a figure was measured on: CPU model, cores, instruction sets.

Speed figures mean little without it (machines here range from AVX2 to
AMX). Linux's /proc/cpuinfo; elsewhere the flags are unknown. No
TensorFlow.
"""
import functools
import os
import pathlib
import platform

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
    """The instruction caps set, e.g. 'ONEDNN_MAX_CPU_ISA=AVX2' ('' if none)."""
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
