"""Depth x width at an equal time budget, fixed in steps."""
from sandbox.experiment import Experiment

# Each arm's steps in the time that 2 blocks of 128 need for the recipe's
# 1,800: `python benchmarks/budget_steps.py experiments/depth_width.py
# --baseline-steps 1800 --data-dir ../shared/data/wikitext-2` on an AMD
# EPYC (Zen 4), 2 cores, AVX-512 + AVX512_BF16, float32 matmul peak 212
# GFLOP/s, 2 threads: 5.6 min of steps there
STEPS = {
    'num_blks=2, width=128': 1800,  # 187 ms/step
    'num_blks=1, width=64': 4332,  # 78 ms/step
    'num_blks=1, width=128': 2289,  # 147 ms/step
    'num_blks=1, width=256': 1010,  # 333 ms/step
    'num_blks=2, width=64': 3321,  # 101 ms/step
    'num_blks=2, width=256': 711,  # 473 ms/step
    'num_blks=4, width=64': 2426,  # 139 ms/step
    'num_blks=4, width=128': 1204,  # 279 ms/step
    'num_blks=4, width=256': 441,  # 763 ms/step
}


def budget(steps):
    """An arm's full-size settings: its steps, warm-up over the first 10%,
    about 10 validations and checkpoints."""
    every = -(-steps // 10)  # ceil(steps / 10)
    return {'train.num_steps': steps, 'train.warmup_steps': steps // 10,
            'train.val_every': every, 'train.checkpoint_every': every}


EXPERIMENT = Experiment(
    name='depth_width',
    question='At an equal time budget, how do depth and width trade off?',
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
    full_by_group={label: budget(n) for label, n in STEPS.items()},
    # two more seeds where 3 left the contrast open: the baseline, 2 x 64
    # and 1 x 128 against it, 4 x 64 against 1 x 128 (Kaplan's shape)
    seeds_by_group={label: (0, 1, 2, 3, 4) for label in (
        'num_blks=2, width=128', 'num_blks=2, width=64',
        'num_blks=1, width=128', 'num_blks=4, width=64')},
    quick={'train.num_steps': 60, 'train.warmup_steps': 6,
           'train.val_every': 20, 'train.checkpoint_every': 20},
    baseline='num_blks=2, width=128',
    predictions={
        'num_blks=1, width=64': (
            'final_val_mlm_l', 1, 'Kaplan 2020: fewer parameters, higher '
            'loss'),
        'num_blks=4, width=256': (
            'final_val_mlm_l', 1, 'Cramming 2023: too few steps in the '
            'budget for its size'),
        # depth 4 against 1 at equal parameters in the blocks (~133k;
        # ~530k); the heads, which grow with the width, leave 4 x 64 with
        # 14% fewer non-embedding parameters in all (143k, 166k), 4 x 128
        # with 15% fewer (564k, 660k)
        ('num_blks=4, width=64', 'num_blks=1, width=128'): (
            'final_val_mlm_l', -1, 'Kaplan 2020 Fig. 6: at equal '
            'parameters, one block trails deeper shapes'),
        ('num_blks=4, width=128', 'num_blks=1, width=256'): (
            'final_val_mlm_l', -1, 'Kaplan 2020 Fig. 6: at equal '
            'parameters, one block trails deeper shapes'),
    },
    x_axis='budget',
    background=(
        'd2l\'s BERT has 2 blocks of width 128 (FFN 256, 2 heads). Kaplan '
        'et al. (2020) find that loss depends mostly on the number of '
        'non-embedding parameters, little on the depth/width shape at a '
        'given count (Fig. 6: within a few percent over a wide range of '
        'aspect ratios, but 1-layer models trail), and that bigger models '
        'learn more per token; at convergence L ~ N^-0.076, so 42k against '
        '299k non-embedding parameters would cost ~16% (~0.8 nats). '
        'Geiping & Goldstein (2023, "Cramming") find that at a fixed '
        'compute budget loss depends mostly on the model size that the '
        'budget can afford, and Hoffmann et al. (2022) that at a fixed '
        'budget loss against size is U-shaped (IsoFLOP curves): a bigger '
        'model only wins while it still sees enough tokens. Predicted '
        'here, for ~6 minutes on 2 CPU cores: the middle sizes best; the '
        '1 x 64 arm limited by capacity; the 4 x 256 arm by its few steps; '
        'at equal parameters (4 x 64 and 1 x 128; 4 x 128 and 1 x 256) the '
        'deeper shape a little ahead (equal parameters in the blocks; the '
        'wider arm\'s MLM and NSP heads give it 17% more non-embedding '
        'parameters). The '
        'deeper arm of such a pair also runs more steps in the same time '
        '(4 x 64: 2,426 against 2,289; 4 x 128: 1,204 against 1,010): '
        'shape and steps change together, as an equal time budget '
        'implies. The time budget '
        'is fixed in steps: each arm takes the steps it runs in the time '
        '2 x 128 needs for the recipe\'s 1,800, timed side by side in one '
        'process on one machine (benchmarks/budget_steps.py; the file '
        'names the machine), '
        'so the results do not move with the speed of the machine that '
        'trains them; the ratios are that machine\'s and differ by '
        'instruction set. Each arm warms up over its first 10% and decays '
        'linearly to 0 at its last step; the curves\' x axis is the share '
        'of its own steps. Every arm trains at lr 2e-3: the recipe\'s '
        '4e-3 leaves 4 blocks on the unigram plateau, while 2 blocks '
        'learn about as well at 2e-3 (docs/recipe.md: 5.433 against 5.373 '
        'nats). One rate for all sizes is a confound of its own (the best '
        'rate falls as models grow), smaller than an arm that never leaves '
        'the plateau. Seeds 3 and 4 of 2 x 128, 2 x 64, 1 x 128 and 4 x 64 '
        'were added after seeds 0-2 had been read, for the contrasts those '
        'left open: adding seeds after a look is optional stopping, which '
        'makes the p-values of those contrasts overstate the evidence. '
        'Seed 0 of 1 x 256 ends just under the gate\'s accuracy (0.148), '
        'its arm past it: that arm\'s paired differences include it.'),
)
