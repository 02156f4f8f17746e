"""Reference: d2l's PyTorch BERT training step, timed on this machine.

d2l.torch's BERT (sec. 15.8-15.10) transcribed: the same model, loss
(_get_batch_loss_bert) and Adam step as d2l's train_bert, on random
batches of d2l's shapes. Needs PyTorch (not a dependency of this
project; any CPU build):

    python benchmarks/d2l_torch_step.py --steps 20
"""
import argparse
import math
import resource
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from sandbox import machine  # no TensorFlow


def sequence_mask(X, valid_len, value=0):
    maxlen = X.size(1)
    mask = torch.arange(maxlen, dtype=torch.float32,
                        device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


def masked_softmax(X, valid_lens):
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
    return F.softmax(X.reshape(shape), dim=-1)


class DotProductAttention(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_hiddens, num_heads, dropout, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens):
        queries = self.transpose_qkv(self.W_q(queries))
        keys = self.transpose_qkv(self.W_k(keys))
        values = self.transpose_qkv(self.W_v(values))
        if valid_lens is not None:
            valid_lens = torch.repeat_interleave(
                valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(self.transpose_output(output))

    def transpose_qkv(self, X):
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1)
        X = X.permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2])
        X = X.permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)


class PositionWiseFFN(nn.Module):
    def __init__(self, ffn_num_hiddens, ffn_num_outputs):
        super().__init__()
        self.dense1 = nn.LazyLinear(ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.LazyLinear(ffn_num_outputs)

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    def __init__(self, norm_shape, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(norm_shape)

    def forward(self, X, Y):
        return self.ln(self.dropout(Y) + X)


class TransformerEncoderBlock(nn.Module):
    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout,
                 use_bias=False):
        super().__init__()
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout,
                                            use_bias)
        self.addnorm1 = AddNorm(num_hiddens, dropout)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(num_hiddens, dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class BERTEncoder(nn.Module):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
        self.segment_embedding = nn.Embedding(2, num_hiddens)
        self.blks = nn.Sequential()
        for i in range(num_blks):
            self.blks.add_module(f'{i}', TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, True))
        self.pos_embedding = nn.Parameter(torch.randn(1, max_len,
                                                      num_hiddens))

    def forward(self, tokens, segments, valid_lens):
        X = self.token_embedding(tokens) + self.segment_embedding(segments)
        X = X + self.pos_embedding[:, :X.shape[1], :]
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X


class MaskLM(nn.Module):
    def __init__(self, vocab_size, num_hiddens, **kwargs):
        super().__init__(**kwargs)
        self.mlp = nn.Sequential(nn.LazyLinear(num_hiddens), nn.ReLU(),
                                 nn.LayerNorm(num_hiddens),
                                 nn.LazyLinear(vocab_size))

    def forward(self, X, pred_positions):
        num_pred_positions = pred_positions.shape[1]
        pred_positions = pred_positions.reshape(-1)
        batch_size = X.shape[0]
        batch_idx = torch.arange(0, batch_size)
        batch_idx = torch.repeat_interleave(batch_idx, num_pred_positions)
        masked_X = X[batch_idx, pred_positions]
        masked_X = masked_X.reshape((batch_size, num_pred_positions, -1))
        return self.mlp(masked_X)


class NextSentencePred(nn.Module):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.output = nn.LazyLinear(2)

    def forward(self, X):
        return self.output(X)


class BERTModel(nn.Module):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000):
        super().__init__()
        self.encoder = BERTEncoder(vocab_size, num_hiddens, ffn_num_hiddens,
                                   num_heads, num_blks, dropout,
                                   max_len=max_len)
        self.hidden = nn.Sequential(nn.LazyLinear(num_hiddens), nn.Tanh())
        self.mlm = MaskLM(vocab_size, num_hiddens)
        self.nsp = NextSentencePred()

    def forward(self, tokens, segments, valid_lens=None,
                pred_positions=None):
        encoded_X = self.encoder(tokens, segments, valid_lens)
        mlm_Y_hat = (self.mlm(encoded_X, pred_positions)
                     if pred_positions is not None else None)
        nsp_Y_hat = self.nsp(self.hidden(encoded_X[:, 0, :]))
        return encoded_X, mlm_Y_hat, nsp_Y_hat


def get_batch_loss_bert(net, loss, vocab_size, tokens_X, segments_X,
                        valid_lens_x, pred_positions_X, mlm_weights_X,
                        mlm_Y, nsp_y):
    """d2l's _get_batch_loss_bert, as printed in the book."""
    _, mlm_Y_hat, nsp_Y_hat = net(tokens_X, segments_X,
                                  valid_lens_x.reshape(-1),
                                  pred_positions_X)
    mlm_l = loss(mlm_Y_hat.reshape(-1, vocab_size), mlm_Y.reshape(-1)) * \
        mlm_weights_X.reshape(-1, 1)
    mlm_l = mlm_l.sum() / (mlm_weights_X.sum() + 1e-8)
    nsp_l = loss(nsp_Y_hat, nsp_y)
    return mlm_l, nsp_l, mlm_l + nsp_l


def random_batch(g, batch_size, max_len, num_slots, vocab_size):
    """A batch of d2l's shapes: ~70% of the MLM slots real, as WikiText."""
    valid = torch.randint(max_len // 3, max_len + 1, (batch_size,),
                          generator=g)
    tokens = torch.randint(0, vocab_size, (batch_size, max_len), generator=g)
    segments = (torch.arange(max_len)[None] > valid[:, None] // 2).long()
    num_preds = torch.clamp(torch.round(valid * 0.15), 1, num_slots)
    slot = torch.arange(num_slots)[None]
    weights = (slot < num_preds[:, None]).float()
    positions = torch.randint(1, max_len // 3, (batch_size, num_slots),
                              generator=g) * weights.long()
    labels = torch.randint(0, vocab_size, (batch_size, num_slots),
                           generator=g) * weights.long()
    nsp_y = torch.randint(0, 2, (batch_size,), generator=g)
    return tokens, segments, valid, positions, weights, labels, nsp_y


def torch_matmul_peak(n=2048, repeats=5):
    """GFLOP/s of torch's float32 n x n x n matmul, the best of repeats."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times) / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch-size', type=int, default=512)
    p.add_argument('--max-len', type=int, default=64)
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--vocab', type=int, default=20256)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    args = p.parse_args()
    print(f'machine: {machine.describe()}; torch float32 2048^3 matmul '
          f'peak {torch_matmul_peak():.0f} GFLOP/s')
    torch.manual_seed(0)
    num_slots = max(1, round(args.max_len * 0.15))
    net = BERTModel(args.vocab, 128, 256, 2, args.blocks, 0.2)
    g = torch.Generator().manual_seed(0)
    batches = [random_batch(g, args.batch_size, args.max_len, num_slots,
                            args.vocab) for _ in range(4)]
    net(*batches[0][:4])  # materialise the lazy layers
    trainer = torch.optim.Adam(net.parameters(), lr=0.01)
    loss = nn.CrossEntropyLoss()  # d2l's: mean reduction

    def step(batch):
        trainer.zero_grad()
        mlm_l, nsp_l, l = get_batch_loss_bert(net, loss, args.vocab, *batch)
        l.backward()
        trainer.step()
        return float(l.detach())

    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        step(batches[i % len(batches)])
        times.append(time.perf_counter() - start)
    t = statistics.median(times[args.warmup:])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'd2l PyTorch {torch.__version__} ({torch.get_num_threads()} '
          f'threads): batch {args.batch_size}, max_len {args.max_len}, '
          f'{args.blocks} blocks, vocab {args.vocab}')
    print(f'pairs/sec {args.batch_size / t:.1f} (median of {args.steps} '
          f'steps, {t * 1e3:.0f} ms/step; best '
          f'{args.batch_size / min(times[args.warmup:]):.1f})')
    print(f'peak RSS {rss:,.0f} MiB')


if __name__ == '__main__':
    main()
