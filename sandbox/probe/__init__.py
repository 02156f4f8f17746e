"""Probing a pretrained BERT: its vectors, predictions and attention.

- inspect: encodings (d2l's get_bert_encoding), fill-mask, attention maps
  and d2l's "crane" probe;
- metrics: the suite's measures on plain arrays (pure NumPy);
- suite: the whole suite on held-out sentences, and its report;
- slots: validation MLM by slot kind (`<mask>`, random, kept);
- calibration: validation MLM loss by word frequency and temperature.
"""
from sandbox.probe.inspect import (CRANE_CONTEXTS, FILL_SENTENCES,
                                   attention_maps, crane_probe, fill_mask,
                                   get_bert_encoding, get_bert_encodings,
                                   word_in_contexts)
from sandbox.probe.metrics import CollapseWarning, cosine
from sandbox.probe.suite import format_report, probe_model, summarize

__all__ = ['CRANE_CONTEXTS', 'FILL_SENTENCES', 'CollapseWarning',
           'attention_maps', 'cosine', 'crane_probe', 'fill_mask',
           'format_report', 'get_bert_encoding', 'get_bert_encodings',
           'probe_model', 'summarize', 'word_in_contexts']
