"""Static vs dynamic masking."""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='static_dynamic',
    question='Do fresh masks every epoch (dynamic) beat masks drawn once '
             '(static)?',
    grid={'data.masking': ['static', 'dynamic']},
    baseline='masking=static',
    # Masks only differ from the second epoch on, so the runs must see the
    # data several times: at quick size, the pairs that fit in 32 tokens
    # (~5,200, 81 batches of 64) for 240 steps, about 3 epochs; at full
    # size, 1000 batches of 512 (85 an epoch) make ~12 epochs.
    quick={'data.max_len': 32, 'train.num_steps': 240,
           'train.warmup_steps': 24, 'train.val_every': 40},
    background=(
        'd2l (like the original BERT code) draws the masks once, when the '
        'data set is built: every epoch shows the same masked words. '
        'RoBERTa (Liu et al. 2019, Table 1) draws new masks each time a '
        'sequence is seen and reports it slightly better or equal (SQuAD '
        '2.0 78.3 vs 78.7 F1). The effect can only appear after the first '
        'epoch, when static masking starts repeating itself.'),
)
