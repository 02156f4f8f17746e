"""Tests for sandbox.probe.suite: the whole suite on a tiny network."""
import json

import keras
import numpy as np
import pytest

from sandbox import data
from sandbox.config import ModelConfig, ProbeConfig
from sandbox.model import bert_from_config
from sandbox.probe import inspect, suite
from sandbox.probe.metrics import LAYER_METRICS, CollapseWarning


@pytest.fixture(scope='module')
def tiny(synthetic_dir):
    """A tiny untrained BERT, the synthetic vocabulary and its sentences."""
    _, vocab = data.load_corpus(synthetic_dir, 'train', min_freq=1,
                                verify=False)
    # seeded: the same weights whatever the order the tests run in
    keras.utils.set_random_seed(0)
    net = bert_from_config(ModelConfig(num_hiddens=8, ffn_num_hiddens=16,
                                       num_heads=2, num_blks=2, max_len=64),
                           len(vocab))
    net.build()
    config = ProbeConfig(num_sentences=30, min_contexts=2, batch_size=7)
    sentences = suite.heldout_sentences(vocab, synthetic_dir, config, 32,
                                    verify=False)
    return net, vocab, sentences, config, data.unigram_counts(
        vocab, synthetic_dir, verify=False)


@pytest.fixture(scope='module')
def tiny_val(synthetic_dir, tiny):
    """Two validation batches of the synthetic corpus, tiny's vocabulary."""
    val, _ = data.load_data_wiki(16, 32, synthetic_dir, split='valid',
                                 vocab=tiny[1], verify=False, shuffle=False,
                                 config=data.VALIDATION)
    return list(val.take(2))


def test_encode_sentences(tiny):
    _, vocab, _, _, _ = tiny
    tokens, segments, valid_lens = inspect.encode_sentences(vocab, [[7, 8, 9],
                                                              [5]])
    cls, sep, pad = vocab['<cls>'], vocab['<sep>'], vocab['<pad>']
    np.testing.assert_array_equal(tokens, [[cls, 7, 8, 9, sep],
                                           [cls, 5, sep, pad, pad]])
    np.testing.assert_array_equal(valid_lens, [5, 3])
    assert not segments.any()


def test_heldout_sentences_fit_and_are_seeded(tiny, synthetic_dir):
    _, vocab, sentences, config, _ = tiny
    assert len(sentences) == 30
    assert all(config.min_len <= len(s) <= 30 for s in sentences)
    again = suite.heldout_sentences(vocab, synthetic_dir, config, 32, False)
    assert all(np.array_equal(a, b) for a, b in zip(sentences, again))


def test_token_vectors_follow_the_words(tiny):
    net, vocab, sentences, config, counts = tiny
    vectors = suite.token_vectors(net, vocab, sentences, config.batch_size)
    n = sum(len(s) for s in sentences)
    assert len(vectors.layers) == 3  # embeddings + 2 blocks
    assert all(X.shape == (n, 8) for X in vectors.layers)
    np.testing.assert_array_equal(vectors.word_ids, np.concatenate(sentences))
    np.testing.assert_array_equal(
        vectors.sentence_ids,
        np.repeat(np.arange(len(sentences)), [len(s) for s in sentences]))
    # batching does not change the vectors (dropout is off)
    one = suite.token_vectors(net, vocab, sentences, len(sentences))
    np.testing.assert_allclose(one.layers[-1], vectors.layers[-1],
                               atol=1e-5)


def test_probe_model_report(tiny, tiny_val):
    net, vocab, sentences, config, counts = tiny
    # a decoder of zeros predicts the same words everywhere: collapsed
    decoder = (net.mlm.decoder.kernel, net.mlm.decoder.bias)
    weights = [w.numpy() for w in decoder]
    for w in decoder:
        w.assign(np.zeros_like(w))
    try:
        with pytest.warns(CollapseWarning):
            report = suite.probe_model(net, vocab, config=config,
                                       sentences=sentences, counts=counts,
                                       val_iter=tiny_val)
    finally:
        for w, value in zip(decoder, weights):
            w.assign(value)
    json.dumps(report)  # JSON-ready
    for name in LAYER_METRICS:
        assert len(report['layers'][name]) == 3
    for name in ('self_sim', 'intra_sim', 'anisotropy', 'token_sim'):
        assert all(-1 <= v <= 1 for v in report['layers'][name])
    assert 0 <= report['mlm_top1'] <= report['mlm_top5'] <= 1
    assert report['crane_cos'] is None  # no "crane" in the synthetic corpus
    assert len(report['fill_mask']) == 3
    assert all(ex['text'].count('<mask>') == 1 and len(ex['top']) == 5
               for ex in report['fill_mask'])
    assert len(report['attentions']) == suite.ATTENTION_PAIRS
    assert report['attention'] == report['attentions'][0]
    assert len({tuple(a['tokens']) for a in report['attentions']}) == 3
    for attention in report['attentions']:
        weights = np.array(attention['weights'])
        T = len(attention['tokens'])
        assert weights.shape == (2, 2, T, T)
        np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-3)
    summary = suite.summarize(report)
    assert summary['probe_self_sim'] == report['layers']['self_sim'][-1]
    # uniform predictions: log V nats on every slot
    mask = report['val_slots']['mask']
    assert mask['n'] > 0
    assert summary['probe_val_mask_l'] == mask['l'] == pytest.approx(
        np.log(len(vocab)), rel=1e-5)
    assert 'validation MLM loss / accuracy by slot: mask ' in \
        suite.format_report(report)
    assert summary['probe_collapsed'] is report['collapsed'] is True
    # identical predictions carry no information about their context
    assert abs(report['pred_mi']) < 1e-9 and report['pred_kl'] >= 0
    assert 'COLLAPSED' in suite.format_report(report)


def test_identical_inputs_are_flagged_as_collapsed(tiny):
    net, vocab, sentences, config, counts = tiny
    weights = [v.numpy() for v in net.weights]
    try:
        # every token, position and segment embeds to the same vector
        enc = net.encoder
        enc.token_embedding.embeddings.assign(
            np.ones(enc.token_embedding.embeddings.shape))
        enc.segment_embedding.embeddings.assign(
            np.zeros(enc.segment_embedding.embeddings.shape))
        enc.pos_embedding.assign(np.zeros(enc.pos_embedding.shape))
        with pytest.warns(CollapseWarning):
            report = suite.probe_model(net, vocab, config=config,
                                   sentences=sentences[:10], counts=counts,
                                   val_iter=())
        # every input gives the same prediction: no context information
        assert report['collapsed']
        assert report['pred_mi'] == pytest.approx(0, abs=1e-6)
        assert report['layers']['self_sim'][0] == pytest.approx(1)
        assert report['layers']['eff_rank'][0] == pytest.approx(1)
        assert report['val_slots'] is None  # no validation batches
        assert 'probe_val_mask_l' not in suite.summarize(report)
    finally:
        for v, w in zip(net.weights, weights):
            v.assign(w)
