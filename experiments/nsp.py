"""NSP ablation: does next sentence prediction help masked LM?"""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='nsp',
    question='Does the NSP objective, or the random B sentences it needs, '
             'help masked language modelling?',
    # Three input/loss formats: d2l's pairs with both losses; the same
    # pairs with MLM only (isolates the NSP gradient); MLM only on pairs
    # that are always two consecutive sentences (isolates the random B
    # sentences, like RoBERTa's SEGMENT-PAIR without NSP)
    grid={'format': {
        'NSP + MLM': {},
        'MLM only, d2l pairs': {'train.nsp_weight': 0.0},
        'MLM only, no random B': {'train.nsp_weight': 0.0,
                                  'data.nsp': False},
    }},
    seeds=(0, 1, 2, 3, 4),
    baseline='format=NSP + MLM',
    predictions={
        'format=MLM only, d2l pairs': (
            'final_val_mlm_l', 0, 'BERT Table 5, RoBERTa Table 2: NSP '
            'moves downstream scores by about a point, either way'),
        'format=MLM only, no random B': (
            'final_val_mlm_l', -1, 'RoBERTa Table 2: contiguous text '
            'without NSP helps; a random B gives no usable context'),
    },
    background=(
        'Devlin et al. (2019, Table 5) report that removing NSP hurts '
        'downstream tasks: MNLI 84.4 to 83.9, QNLI 88.4 to 84.9, SQuAD 1.1 '
        '88.5 to 87.9 F1, for BERT-base. Liu et al. (2019, RoBERTa, Table '
        '2) find the opposite once inputs are long: without NSP, '
        'FULL-SENTENCES and DOC-SENTENCES match or beat SEGMENT-PAIR with '
        'NSP (e.g. SQuAD 2.0 79.1 / 79.7 vs 78.7 F1, MNLI 84.7 / 84.7 vs '
        '84.0), while SENTENCE-PAIR inputs (single sentences, as here) '
        'hurt. Neither paper reports the MLM loss itself. What these '
        'predict for validation MLM loss at 15% masking: a small effect '
        'either way, a few hundredths of a nat; a random B sentence gives '
        'the MLM less usable context for half the pairs, so dropping it '
        'should help MLM slightly.'),
)
