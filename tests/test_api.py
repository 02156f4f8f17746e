"""The d2l-style top-level API works as the README shows it."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT


def test_d2l_style_session(synthetic_dir):
    from sandbox import (BERTModel, get_bert_encoding,
                         get_tokens_and_segments, load_data_wiki,
                         train_bert)
    batch_size, max_len = 32, 24
    train_iter, vocab = load_data_wiki(batch_size, max_len, synthetic_dir,
                                       verify=False)
    net = BERTModel(len(vocab), num_hiddens=8, ffn_num_hiddens=16,
                    num_heads=2, num_blks=1, dropout=0.2, max_len=max_len)
    history = train_bert(train_iter, net, len(vocab), devices=None,
                         num_steps=3, verbose=False)
    assert [row['step'] for row in history] == [1, 2, 3]
    tokens, segments = get_tokens_and_segments(['w1', 'w2'], ['w3'])
    assert segments == [0, 0, 0, 0, 1, 1]
    encoded = get_bert_encoding(net, vocab, ['w1', 'w2'], ['w3'])
    assert encoded.shape == (1, len(tokens), 8)
    again = get_bert_encoding(net, vocab, ['w1', 'w2'], ['w3'])
    np.testing.assert_array_equal(encoded.numpy(), again.numpy())


@pytest.mark.parametrize('setting, allocator', [
    (None, 'bfc'), ('false', 'default')])
def test_import_sandbox_selects_the_bfc_cpu_allocator(setting, allocator):
    # A fresh process: TensorFlow imported first, sandbox after, then the
    # first op; only the BFC allocator counts the bytes it allocated (the
    # default one has no statistics, or, on some machines, reports 0)
    env = {k: v for k, v in os.environ.items()
           if k != 'TF_CPU_ALLOCATOR_USE_BFC'}
    if setting is not None:
        env['TF_CPU_ALLOCATOR_USE_BFC'] = setting
    code = ('import tensorflow as tf, sandbox\n'
            'tf.zeros(1000)\n'
            'try:\n'
            '    peak = tf.config.experimental.get_memory_info("CPU:0")'
            '["peak"]\n'
            'except ValueError:\n'
            '    peak = 0\n'
            'print("bfc" if peak > 0 else "default")\n')
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == allocator
