"""A d2l-style sandbox for pretraining BERT (MLM + NSP) in TensorFlow."""
import importlib
import os

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notes) hides output
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# TensorFlow's BFC allocator for CPU memory: it keeps freed blocks, where
# the default allocator maps and zeroes fresh pages for every large
# tensor (the MLM loss's (N, V) ones). Read at TensorFlow's first op, so
# this works even after `import tensorflow`; set it to false to opt out
os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', 'true')

# d2l-style names and the module of each. They are imported on first use
# (PEP 562), so that TensorFlow-free modules (sandbox.config, runs, plots,
# experiment.spec) load without TensorFlow.
_EXPORTS = {
    'BERTBatch': 'sandbox.data', 'BERTModel': 'sandbox.model',
    'DataConfig': 'sandbox.config', 'ModelConfig': 'sandbox.config',
    'TrainConfig': 'sandbox.config', 'get_bert_encoding': 'sandbox.probe',
    'get_tokens_and_segments': 'sandbox.data',
    'load_data_wiki': 'sandbox.data', 'train_bert': 'sandbox.train'}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import an exported name's module when the name is first used."""
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute '
                             f'{name!r}')
    return getattr(importlib.import_module(_EXPORTS[name]), name)
