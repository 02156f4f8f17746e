"""Typed, frozen configs, presets, recipes and the one settings parser."""
import ast
import dataclasses
import difflib
import math
from typing import NamedTuple, Optional, Tuple


class ConfigError(ValueError, TypeError):
    """A configuration value of the wrong type or outside its range."""


def check_range(name, value, low=None, high=None, *, integer=False,
                low_open=False):
    """Raise ValueError naming `name` unless `value` lies in [low, high]."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        kind = 'an integer' if integer else 'a number'
        raise ConfigError(f'{name} must be {kind}, got {value!r}')
    if not integer and not math.isfinite(value):
        raise ConfigError(f'{name} must be finite, got {value!r}')
    left = '(' if low_open else '['
    bounds = f'{left}{low if low is not None else "-inf"}, ' \
             f'{high if high is not None else "inf"}]'
    if (low is not None and (value <= low if low_open else value < low)) or \
            (high is not None and value > high):
        raise ConfigError(f'{name} must be in {bounds}, got {value!r}')


def check_choice(name, value, choices):
    """Raise ValueError naming `name` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f'{name} must be one of {sorted(choices)}, '
                         f'got {value!r}')


class _Config:
    """Mixin: dict round-trip and validated copies for frozen dataclasses."""

    def to_dict(self):
        """Return the fields as a plain, JSON-ready dict."""
        return {f.name: (list(v) if isinstance(v, tuple) else v)
                for f in dataclasses.fields(self)
                for v in [getattr(self, f.name)]}

    @classmethod
    def from_dict(cls, d):
        """Build from a dict, rejecting unknown keys by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f'unknown {cls.__name__} field(s) {unknown}; '
                             f'known: {sorted(names)}')
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in d.items()})

    def replace(self, **changes):
        """Return a validated copy with `changes` applied."""
        return self.from_dict({**self.to_dict(), **changes})


@dataclasses.dataclass(frozen=True)
class DataConfig(_Config):
    """How sentence-pair batches are built (d2l's defaults)."""
    batch_size: int = 512          # sentence pairs per batch
    max_len: int = 64              # tokens per sequence incl. <cls>/<sep>
    min_freq: int = 5              # vocabulary threshold on train counts
    mask_rate: float = 0.15        # fraction of tokens predicted by MLM
    # Fraction of tokens corrupted by mask_split; None: the predicted ones
    # (BERT). Wettig et al. (2022) vary it apart from the prediction rate.
    corrupt_rate: Optional[float] = None
    # <mask> / random word / unchanged shares of the predictions
    mask_split: Tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_preds: Optional[int] = None  # slots; None: round(max_len * rate)
    nsp: bool = True               # False: every pair is a true next sentence
    nsp_rate: float = 0.5          # chance that B is a random sentence
    masking: str = 'static'        # 'static' (d2l: once) or 'dynamic'
    # 'static' (d2l: the random B sentences drawn once) or 'dynamic' (d2l's
    # draw again every epoch, as BERT's dupe_factor redraws its pairs)
    pairing: str = 'static'
    seed: int = 0                  # seeds pairs, masks and shuffling

    def __post_init__(self):
        check_range('batch_size', self.batch_size, 1, integer=True)
        check_range('max_len', self.max_len, 4, integer=True)
        check_range('min_freq', self.min_freq, 0, integer=True)
        check_range('mask_rate', self.mask_rate, 0, 1)
        if self.corrupt_rate is not None:
            check_range('corrupt_rate', self.corrupt_rate, 0, 1)
        split = self.mask_split
        if not isinstance(split, tuple) or len(split) != 3:
            raise ConfigError('mask_split must have 3 parts (mask, random, '
                              f'keep), got {self.mask_split!r}')
        for part in self.mask_split:
            check_range('mask_split', part, 0, 1)
        if abs(sum(self.mask_split) - 1) > 1e-6:
            raise ConfigError(
                f'mask_split must sum to 1, got {self.mask_split!r}')
        if self.max_preds is not None:
            check_range('max_preds', self.max_preds, 1, self.max_len,
                        integer=True)
        if not isinstance(self.nsp, bool):
            raise ConfigError(f'nsp must be a bool, got {self.nsp!r}')
        check_range('nsp_rate', self.nsp_rate, 0, 1)
        check_choice('masking', self.masking, {'static', 'dynamic'})
        check_choice('pairing', self.pairing, {'static', 'dynamic'})
        if self.pairing == 'dynamic' and self.masking == 'static':
            raise ConfigError("pairing='dynamic' needs masking='dynamic': "
                              'static masks are drawn once, for fixed pairs')
        check_range('seed', self.seed, 0, integer=True)

    @property
    def num_pred_slots(self):
        """Prediction slots per sequence (d2l: round(max_len * 0.15))."""
        if self.max_preds is not None:
            return self.max_preds
        return max(1, round(self.max_len * self.mask_rate))


INITS = ('d2l', 'keras', 'bert')


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Config):
    """The size and variant of a BERT (defaults: d2l's small BERT)."""
    num_hiddens: int = 128         # width of embeddings and blocks
    ffn_num_hiddens: int = 256     # width of the position-wise FFN
    num_heads: int = 2             # attention heads per block
    num_blks: int = 2              # Transformer encoder blocks
    dropout: float = 0.2           # on residual branches (d2l's AddNorm)
    attention_dropout: float = 0.2  # on attention weights (d2l: = dropout)
    max_len: int = 1000            # positional capacity
    norm_first: bool = False       # pre-LN if True; d2l is post-LN
    activation: str = 'relu'       # FFN activation: 'relu' (d2l) or 'gelu'
    tie_weights: bool = False      # MLM decoder shares the token embedding
    # Tied decoder only: learn its logit scale (log-parametrized, from its
    # fixed value), as CLIP learns its temperature; False keeps it fixed
    learn_logit_scale: bool = False
    # Weight init: 'd2l' (PyTorch's defaults, as d2l's code gets them),
    # 'keras' (glorot kernels, zero biases) or 'bert' (all N(0, 0.02))
    init: str = 'd2l'
    # Std of the token, segment and position embeddings' normal init;
    # None: the init's (N(0, 1); 'bert' 0.02), tied decoder or not
    embedding_std: Optional[float] = None

    def __post_init__(self):
        check_range('num_hiddens', self.num_hiddens, 1, integer=True)
        check_range('ffn_num_hiddens', self.ffn_num_hiddens, 1, integer=True)
        check_range('num_heads', self.num_heads, 1, integer=True)
        if self.num_hiddens % self.num_heads:
            raise ConfigError(f'num_hiddens ({self.num_hiddens}) must be '
                             f'divisible by num_heads ({self.num_heads})')
        check_range('num_blks', self.num_blks, 1, integer=True)
        check_range('dropout', self.dropout, 0, 1)
        check_range('attention_dropout', self.attention_dropout, 0, 1)
        check_range('max_len', self.max_len, 1, integer=True)
        for name in ('norm_first', 'tie_weights', 'learn_logit_scale'):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f'{name} must be a bool, '
                                f'got {getattr(self, name)!r}')
        if self.learn_logit_scale and not self.tie_weights:
            raise ConfigError('learn_logit_scale needs tie_weights=True '
                              '(an untied decoder learns its own scale)')
        check_choice('activation', self.activation, {'relu', 'gelu'})
        check_choice('init', self.init, set(INITS))
        if self.embedding_std is not None:
            check_range('embedding_std', self.embedding_std, 0, 10,
                        low_open=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Config):
    """How a pretraining run optimises (defaults: d2l's run)."""
    num_steps: int = 50            # optimizer steps
    lr: float = 0.01               # peak Adam learning rate (d2l: 0.01)
    warmup_steps: int = 0          # linear warm-up from 0 to lr
    # After warm-up: 'constant', or 'linear' / 'cosine' towards 0 (reached
    # one step after the last, so every step learns)
    decay: str = 'constant'
    beta_1: float = 0.9            # Adam's moment decay rates (torch's
    beta_2: float = 0.999          # defaults; RoBERTa: beta_2 0.98)
    epsilon: float = 1e-8          # added to sqrt(v_hat), as torch.optim.Adam
    weight_decay: float = 0.0      # decoupled (AdamW); not on biases / norms
    mlm_weight: float = 1.0        # weight of the MLM loss in the total
    nsp_weight: float = 1.0        # weight of the NSP loss (0: MLM only)
    clip_norm: Optional[float] = None  # clip gradients by global norm
    seed: int = 0                  # seeds weight init and dropout
    val_every: int = 10            # validate every N steps (0: at the end)
    val_batches: Optional[int] = None  # validation batches (None: all)
    checkpoint_every: int = 100    # checkpoint every N steps (0: at the end)
    keep_checkpoints: int = 3      # newest checkpoints kept
    dtype_policy: str = 'float32'  # Keras policy: 'float32' / 'mixed_bfloat16'
    jit_compile: bool = False      # XLA-compile the train step
    # Run the encoder on the valid tokens only, not the padding (exact;
    # XLA's static shapes keep the padding)
    unpad: bool = True
    # With unpad, attention runs in this many groups of rows sorted by
    # length, each on the grid of its longest row (exact; 1: one grid)
    length_groups: int = 1
    # Minutes of training steps: the run stops once it has spent them and
    # its schedule reads the share spent (num_steps: the cap, and the
    # schedule's resolution). None: num_steps steps.
    time_budget: Optional[float] = None

    def __post_init__(self):
        check_range('num_steps', self.num_steps, 1, integer=True)
        check_range('lr', self.lr, 0, 10, low_open=True)
        check_range('warmup_steps', self.warmup_steps, 0, integer=True)
        check_choice('decay', self.decay, {'constant', 'linear', 'cosine'})
        check_range('beta_1', self.beta_1, 0, 1)
        check_range('beta_2', self.beta_2, 0, 1)
        if self.beta_1 >= 1 or self.beta_2 >= 1:
            raise ConfigError(f'beta_1 and beta_2 must be below 1, got '
                              f'{self.beta_1!r}, {self.beta_2!r}')
        check_range('epsilon', self.epsilon, 0, 1, low_open=True)
        check_range('weight_decay', self.weight_decay, 0, 1)
        check_range('mlm_weight', self.mlm_weight, 0)
        check_range('nsp_weight', self.nsp_weight, 0)
        if self.mlm_weight == 0 and self.nsp_weight == 0:
            raise ConfigError('mlm_weight and nsp_weight cannot both be 0')
        if self.clip_norm is not None:
            check_range('clip_norm', self.clip_norm, 0, low_open=True)
        check_range('seed', self.seed, 0, integer=True)
        check_range('val_every', self.val_every, 0, integer=True)
        if self.val_batches is not None:
            check_range('val_batches', self.val_batches, 1, integer=True)
        check_range('checkpoint_every', self.checkpoint_every, 0,
                    integer=True)
        check_range('keep_checkpoints', self.keep_checkpoints, 1,
                    integer=True)
        check_choice('dtype_policy', self.dtype_policy,
                     {'float32', 'mixed_bfloat16', 'mixed_float16'})
        check_range('length_groups', self.length_groups, 1, integer=True)
        for name in ('jit_compile', 'unpad'):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f'{name} must be a bool, '
                                  f'got {getattr(self, name)!r}')
        if self.time_budget is not None:
            check_range('time_budget', self.time_budget, 0, low_open=True)

    @property
    def unpads(self):
        """Whether the train step drops the padding: unpad, but not under
        XLA, whose static shapes keep it."""
        return self.unpad and not self.jit_compile


@dataclasses.dataclass(frozen=True)
class ProbeConfig(_Config):
    """Which held-out sentences are probed, and how."""
    split: str = 'test'            # WikiText-2 split the sentences come from
    num_sentences: int = 500       # sentences probed (a seeded sample)
    min_len: int = 5               # words a probed sentence has at least
    min_contexts: int = 5          # sentences a word needs for self-sim/MEV
    mask_rate: float = 0.15        # words masked per sentence for top-k
    batch_size: int = 64           # sentences per forward pass
    # Collapse: predictions that carry under collapse_mi nats about their
    # context, or more than collapse_top_share of them the top word
    collapse_mi: float = 0.1
    collapse_top_share: float = 0.5
    seed: int = 0                  # seeds the sample and the masks

    def __post_init__(self):
        check_choice('split', self.split, {'train', 'valid', 'test'})
        check_range('num_sentences', self.num_sentences, 2, integer=True)
        check_range('min_len', self.min_len, 2, integer=True)
        check_range('min_contexts', self.min_contexts, 2, integer=True)
        check_range('mask_rate', self.mask_rate, 0, 1, low_open=True)
        check_range('batch_size', self.batch_size, 1, integer=True)
        check_range('collapse_mi', self.collapse_mi, 0)
        check_range('collapse_top_share', self.collapse_top_share, 0, 1)
        check_range('seed', self.seed, 0, integer=True)


# Named model sizes, d2l's first; BERT-base/large are the paper's.
MODEL_PRESETS = {
    'd2l': ModelConfig(),
    'tiny': ModelConfig(num_hiddens=8, ffn_num_hiddens=16, num_heads=2,
                        num_blks=1, dropout=0.0, attention_dropout=0.0,
                        max_len=128),
    'small': ModelConfig(num_hiddens=256, ffn_num_hiddens=1024, num_heads=4,
                         num_blks=4, dropout=0.1, attention_dropout=0.1,
                         max_len=512, norm_first=False, activation='gelu',
                         init='bert'),
    'base': ModelConfig(num_hiddens=768, ffn_num_hiddens=3072, num_heads=12,
                        num_blks=12, dropout=0.1, attention_dropout=0.1,
                        max_len=512, activation='gelu', tie_weights=True,
                        init='bert'),
}

# Named training recipes: flat 'section.field' settings over a model
# preset and the configs' defaults, which are d2l's run. 'default' is the
# recipe chosen by the sweep in docs/recipe.md, with 25% masking since
# 2026-12-06 (plots/masking, BENCHMARKS.md's time to signal).
RECIPES = {
    'd2l': {},
    'default': {
        'data.batch_size': 128, 'data.masking': 'dynamic',
        'data.mask_rate': 0.25,
        'model.norm_first': True, 'model.activation': 'gelu',
        'model.dropout': 0.0, 'model.attention_dropout': 0.0,
        'train.lr': 4e-3, 'train.warmup_steps': 180,
        'train.decay': 'linear', 'train.num_steps': 1800,
        'train.val_every': 300, 'train.checkpoint_every': 300},
}
SECTIONS = {'data': DataConfig, 'model': ModelConfig, 'train': TrainConfig,
            'probe': ProbeConfig}
# Every field's default, for run folders written before the field existed
DEFAULTS = {section: cls().to_dict() for section, cls in SECTIONS.items()}
# What a setting may name: a model preset, or any section's field
SETTING_KEYS = ('preset',) + tuple(sorted(
    f'{section}.{f.name}' for section, cls in SECTIONS.items()
    for f in dataclasses.fields(cls)))
# Set together, by --seed and by each seed of an experiment
SEED_KEYS = ('data.seed', 'train.seed')


class Configs(NamedTuple):
    """The configs of a run, one a section."""
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    probe: ProbeConfig

    def to_dict(self):
        """Plain JSON-ready dicts, keyed by section."""
        return {name: getattr(self, name).to_dict() for name in SECTIONS}


def check_setting(key, known=SETTING_KEYS, where='setting'):
    """Raise ConfigError naming `key`, a close match and the known keys."""
    if key in known:
        return
    close = difflib.get_close_matches(str(key), known, n=2, cutoff=0.75)
    hint = f' (did you mean {" or ".join(map(repr, close))}?)' if close \
        else ''
    raise ConfigError(f'{where} {key!r} is not a config field{hint}; known '
                      f'keys: {", ".join(known)}')


def parse_value(text):
    """A Python literal if `text` is one (1, 0.5, True, (1, 0)), else text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string: train.decay=linear


def parse_setting(text, known=SETTING_KEYS, where='--set'):
    """'train.lr=0.001' -> ('train.lr', 0.001), the key checked."""
    key, sep, value = text.partition('=')
    if not sep:
        raise ConfigError(f'{where} {text!r}: expected section.field=value')
    key = key.strip()
    check_setting(key, known, where)
    return key, parse_value(value.strip())


def parse_settings(texts, known=SETTING_KEYS, where='--set'):
    """{key: value} of 'section.field=value' strings; the last one wins."""
    return dict(parse_setting(text, known, where) for text in texts)


def configs_from_settings(settings, preset='d2l', recipe='d2l'):
    """The Configs of flat settings over a recipe and a model preset.

    `settings` ({'data.mask_rate': 0.3, ...}) apply over the recipe, which
    applies over the model preset (settings['preset'], else `preset`) and
    the configs' defaults.
    """
    check_choice('recipe', recipe, set(RECIPES))
    settings = {**RECIPES[recipe], **settings}
    fields = {section: {} for section in SECTIONS}
    for key, value in settings.items():
        check_setting(key)
        if key != 'preset':
            section, name = key.split('.', 1)
            fields[section][name] = value
    configs = Configs(
        DataConfig.from_dict(fields['data']),
        model_preset(settings.get('preset', preset)).replace(
            **fields['model']),
        TrainConfig.from_dict(fields['train']),
        ProbeConfig.from_dict(fields['probe']))
    if configs.data.max_len > configs.model.max_len:
        raise ConfigError(f'data.max_len ({configs.data.max_len}) exceeds '
                          f'model.max_len ({configs.model.max_len})')
    return configs


def model_preset(name):
    """Return the ModelConfig named `name`."""
    check_choice('preset', name, set(MODEL_PRESETS))
    return MODEL_PRESETS[name]
