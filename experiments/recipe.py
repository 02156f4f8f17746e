"""The recipe sweep: which training recipe learns at d2l's model size?"""
from sandbox.experiment import Experiment

# Every arm starts from BASE and changes what its name says: one factor at
# a time, so each difference has one cause. 1,800 steps of 128 pairs
# (230k pairs, 5.3 epochs) is what `make run` can afford in 15 minutes on
# a 2-core AVX2 machine.
BASE = {
    'data.batch_size': 128, 'data.max_len': 64, 'data.masking': 'dynamic',
    'model.norm_first': True, 'model.activation': 'gelu',
    'model.dropout': 0.1, 'model.attention_dropout': 0.1,
    'train.lr': 2e-3, 'train.warmup_steps': 180, 'train.decay': 'linear',
    'train.num_steps': 1800, 'train.val_every': 300,
    'train.checkpoint_every': 300}

EXPERIMENT = Experiment(
    name='recipe',
    question='Which training recipe learns MLM and NSP at d2l\'s model '
             'size (2 blocks x 128) within a few hundred thousand pairs?',
    grid={'arm': {
        'base lr 2e-3': {},
        'lr 4e-3': {'train.lr': 4e-3},
        'AdamW wd 0.01 b2 0.98': {'train.weight_decay': 0.01,
                                  'train.beta_2': 0.98},
        'dropout 0': {'model.dropout': 0.0,
                      'model.attention_dropout': 0.0},
        # The chosen recipe (lr 4e-3 and dropout 0 together), run to the
        # issue's budget of 400k pairs (3,125 steps)
        'default, 400k pairs': {
            'train.lr': 4e-3, 'model.dropout': 0.0,
            'model.attention_dropout': 0.0, 'train.num_steps': 3125,
            'train.warmup_steps': 312, 'train.val_every': 250,
            'train.checkpoint_every': 250},
        # The default since 2026-12-06 (25% masking) to the same budget,
        # added then (docs/recipe.md)
        'default 25% masking, 400k pairs': {
            'train.lr': 4e-3, 'model.dropout': 0.0,
            'model.attention_dropout': 0.0, 'data.mask_rate': 0.25,
            'train.num_steps': 3125, 'train.warmup_steps': 312,
            'train.val_every': 250, 'train.checkpoint_every': 250},
        'post-LN': {'model.norm_first': False},
        'batch 256': {'data.batch_size': 256, 'train.num_steps': 900,
                      'train.warmup_steps': 90, 'train.val_every': 150,
                      'train.checkpoint_every': 150},
        'cosine decay': {'train.decay': 'cosine'},
        'no warm-up': {'train.warmup_steps': 0},
        'NSP weight 4': {'train.nsp_weight': 4.0},
        'lr 1e-3': {'train.lr': 1e-3},
        'BERT init': {'model.init': 'bert'},
    }},
    settings=BASE,
    # the 25%-masking default against the 15% one: one factor
    references={'arm=default 25% masking, 400k pairs':
                'arm=default, 400k pairs'},
    seeds=(0,),
    quick_seeds=(0,),
    background=(
        'A pilot (batch 128, Adam at lr 1e-3, 300 warm-up steps, linear '
        'decay, dynamic masking, pre-LN with GELU, dropout 0.1) reached '
        'validation MLM accuracy 0.21 after 256k pairs, NSP near chance. '
        'Pre-LN tolerates larger learning rates than post-LN (Xiong et al. '
        '2020); RoBERTa (Liu et al. 2019) trains with AdamW, beta_2 0.98 '
        'and weight decay 0.01; cramming (Geiping & Goldstein 2022) drops '
        'dropout for short budgets. One seed per arm: a screen, not a '
        'ranking; differences below a few hundredths of accuracy are '
        'within what seeds alone move. The arm "default, 400k pairs" '
        'trains 3,125 steps, not 1,800, and decays over them: its final '
        'numbers are not comparable with the others\' (the size line '
        'below names the base size only); it measures the chosen recipe '
        'against the 400k-pair budget, and "default 25% masking, 400k '
        'pairs" the default since 2026-12-06 (added then, on an AMD Zen '
        '4 with AVX-512, 2 cores, shared with other runs). The other '
        'arms\' speeds (pairs/s, wall s) were '
        'measured on an Intel Xeon whose top instruction set is AMX '
        '(amx_tile; AVX-512 too), 2 cores, shared with test runs. See '
        'docs/recipe.md.'),
)
