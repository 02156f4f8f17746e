"""Masking rate and the 80/10/10 rule."""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='masking',
    question='Which masking rate, and does 80/10/10 beat all-<mask>?',
    grid={
        'data.mask_rate': [0.15, 0.3, 0.4, 0.6],
        # <mask> / random word / unchanged shares of the predicted words
        'data.mask_split': {'80/10/10': (0.8, 0.1, 0.1),
                            'all-mask': (1.0, 0.0, 0.0)},
    },
    baseline='mask_rate=0.15, mask_split=80/10/10',
    background=(
        'BERT masks 15% of the tokens, and of those replaces 80% by '
        '`<mask>`, 10% by a random word and keeps 10% (Devlin et al. 2019, '
        'Appendix C.2). Wettig et al. (2022), "Should You Mask 15% in '
        'Masked Language Modeling?", find 40% at least as good as 15% for '
        'large models, and 80/10/10 no better than always `<mask>`. '
        'Validation here is always at 15% with 80/10/10, so every arm is '
        'scored on the same task; the number of prediction slots follows '
        'the rate (round(max_len * rate)), so a higher rate also means '
        'more predicted words, and more MLM gradient, per pair.'),
)
