"""Depth x width at an equal wall-clock budget."""
from sandbox.experiment import Experiment

# Minutes of training steps per run: what the baseline arm (2 blocks of
# 128) needs for the recipe's 1,800 steps on a 2-core AVX-512 machine
BUDGET = 8.0

EXPERIMENT = Experiment(
    name='depth_width',
    question='At an equal wall-clock budget, how do depth and width trade '
             'off?',
    grid={
        'model.num_blks': [1, 2, 4],
        # the FFN stays twice the width, as in d2l's 128/256
        'width': {
            '64': {'model.num_hiddens': 64, 'model.ffn_num_hiddens': 128},
            '128': {'model.num_hiddens': 128, 'model.ffn_num_hiddens': 256},
            '256': {'model.num_hiddens': 256, 'model.ffn_num_hiddens': 512},
        },
    },
    # lr 2e-3 in every arm: the recipe's 4e-3 stalls 4 blocks on the
    # plateau (experiments/README, architecture's pilots)
    settings={'train.lr': 2e-3},
    baseline='num_blks=2, width=128',
    predictions={
        'num_blks=1, width=64': (
            'final_val_mlm_l', 1, 'Kaplan 2020: fewer parameters, higher '
            'loss'),
        'num_blks=4, width=256': (
            'final_val_mlm_l', 1, 'Cramming 2023: too few steps in the '
            'budget for its size'),
    },
    # Every arm trains for BUDGET minutes of steps, its schedule read on
    # the share of the budget spent (warm-up: the first 10%); num_steps
    # only caps the fastest arm
    full={'train.time_budget': BUDGET, 'train.num_steps': 20_000,
          'train.warmup_steps': 2_000, 'train.val_every': 300,
          'train.checkpoint_every': 300},
    quick={'train.time_budget': 0.5, 'train.num_steps': 2_000,
           'train.warmup_steps': 200, 'train.val_every': 20,
           'train.checkpoint_every': 20},
    x_axis='time',
    background=(
        'd2l\'s BERT has 2 blocks of width 128 (FFN 256, 2 heads). Kaplan '
        'et al. (2020) find that loss depends mostly on the number of '
        'non-embedding parameters, little on the depth/width shape at a '
        'given count, and that bigger models learn more per token. '
        'Geiping & Goldstein (2023, "Cramming") find that at a fixed '
        'compute budget on one GPU, loss depends mostly on the model size '
        'that the budget can afford, with little gain from other shapes: '
        'a bigger model only wins when it still sees enough tokens in the '
        'time. Predicted here, for ~8 minutes on 2 CPU cores: the middle '
        'sizes best; the 1 x 64 arm limited by capacity; the 4 x 256 arm '
        'by the few steps it can take. Every arm gets the same minutes '
        'of training steps (validation not counted), its learning-rate '
        'schedule stretched over them; the table gives the steps each '
        'took and its non-embedding parameters. Every arm trains at lr '
        '2e-3: the recipe\'s 4e-3 leaves 4 blocks on the unigram plateau, '
        'while 2 blocks learn about as well at 2e-3 (docs/recipe.md: '
        '5.433 against 5.373 nats). One rate for all sizes is a confound '
        'of its own (the best rate falls as models grow), smaller than an '
        'arm that never leaves the plateau. The budget is in minutes of a '
        'machine, so the runner trains seed by seed and the report pairs '
        'two arms of a seed only where both ran on one machine and neither '
        'shared it: each run records the share of the machine\'s CPU time '
        'that other processes and the hypervisor took while it trained, '
        'and above 10% it pairs with none.'),
)
