"""The d2l-style top-level API works as the README shows it."""
import numpy as np


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
