"""Tests for sandbox.config: defaults, presets, errors that name fields."""
import pytest

from sandbox.config import (MODEL_PRESETS, SEED_KEYS, SETTING_KEYS,
                            ConfigError, ModelConfig, ProbeConfig,
                            TrainConfig, configs_from_settings, model_preset,
                            parse_setting, parse_settings)


def test_defaults_are_d2ls_small_bert():
    c = ModelConfig()
    assert (c.num_hiddens, c.ffn_num_hiddens, c.num_heads, c.num_blks,
            c.dropout, c.max_len) == (128, 256, 2, 2, 0.2, 1000)
    assert not c.norm_first and c.activation == 'relu' and not c.tie_weights


@pytest.mark.parametrize('kwargs,error,field', [
    ({'num_heads': 3, 'num_hiddens': 8}, ValueError, 'num_heads'),
    ({'num_hiddens': 0}, ValueError, 'num_hiddens'),
    ({'ffn_num_hiddens': 2.5}, TypeError, 'ffn_num_hiddens'),
    ({'num_heads': 0}, ValueError, 'num_heads'),
    ({'num_blks': 0}, ValueError, 'num_blks'),
    ({'dropout': 1.5}, ValueError, 'dropout'),
    ({'dropout': float('nan')}, ValueError, 'dropout'),
    ({'attention_dropout': -0.1}, ValueError, 'attention_dropout'),
    ({'max_len': 0}, ValueError, 'max_len'),
    ({'norm_first': 1}, TypeError, 'norm_first'),
    ({'tie_weights': 'yes'}, TypeError, 'tie_weights'),
    ({'learn_logit_scale': True}, ValueError, 'learn_logit_scale'),
    ({'learn_logit_scale': 1, 'tie_weights': True}, TypeError,
     'learn_logit_scale'),
    ({'activation': 'tanh'}, ValueError, 'activation'),
    ({'num_blks': True}, TypeError, 'num_blks'),
])
def test_invalid_model_config_names_the_field(kwargs, error, field):
    with pytest.raises(error, match=field):
        ModelConfig(**kwargs)


def test_divisibility_error_names_both_fields():
    with pytest.raises(ValueError,
                       match=r'num_hiddens \(8\).*num_heads \(3\)'):
        ModelConfig(num_heads=3, num_hiddens=8)


@pytest.mark.parametrize('unpad, jit_compile, unpads', [
    (True, False, True), (False, False, False), (True, True, False)])
def test_the_train_step_unpads_unless_told_or_under_xla(unpad, jit_compile,
                                                        unpads):
    assert TrainConfig(unpad=unpad, jit_compile=jit_compile).unpads is unpads


def test_round_trip_and_replace():
    c = ModelConfig(num_hiddens=8, num_heads=2, activation='gelu')
    assert ModelConfig.from_dict(c.to_dict()) == c
    assert c.replace(num_blks=3).num_blks == 3
    with pytest.raises(ValueError, match='num_heads'):
        c.replace(num_heads=3)
    with pytest.raises(ValueError, match='unknown.*num_layers'):
        ModelConfig.from_dict({'num_layers': 2})


def test_presets_are_valid_and_named():
    assert model_preset('d2l') == ModelConfig()
    assert all(isinstance(c, ModelConfig) for c in MODEL_PRESETS.values())
    with pytest.raises(ValueError, match='preset'):
        model_preset('huge')


def test_probe_config_rejects_bad_fields():
    with pytest.raises(ValueError, match='num_sentences'):
        ProbeConfig(num_sentences=1)
    with pytest.raises(ValueError, match='split'):
        ProbeConfig(split='dev')
    with pytest.raises(ValueError, match='unknown.*num_sentence'):
        ProbeConfig.from_dict({'num_sentence': 3})


def test_parse_setting():
    assert parse_setting('train.lr=1e-3') == ('train.lr', 0.001)
    assert parse_setting('data.mask_split=(1, 0, 0)') == \
        ('data.mask_split', (1, 0, 0))
    assert parse_setting('train.decay=linear') == ('train.decay', 'linear')
    assert parse_setting('model.norm_first=True') == \
        ('model.norm_first', True)
    assert parse_settings(['preset=tiny', 'train.lr=1', 'train.lr=2']) == \
        {'preset': 'tiny', 'train.lr': 2}
    with pytest.raises(ValueError, match='section.field=value'):
        parse_setting('train.lr')
    with pytest.raises(ValueError, match="'train.l'"):
        parse_setting('train.l=3')
    with pytest.raises(ConfigError, match=r"--set 'model.num_blocks' is not "
                       r"a config field \(did you mean 'model.num_blks'"):
        parse_setting('model.num_blocks=2')
    with pytest.raises(ConfigError, match="'probe.seed' is not"):
        parse_setting('probe.seed=1', known=SETTING_KEYS[:5])


def test_configs_from_settings_stack_preset_recipe_settings():
    configs = configs_from_settings({'model.num_blks': 3, 'train.lr': 0.5,
                                     'probe.num_sentences': 9},
                                    preset='tiny', recipe='default')
    assert configs.model.num_hiddens == 8  # the preset
    assert configs.model.norm_first  # the recipe
    assert (configs.model.num_blks, configs.train.lr) == (3, 0.5)
    assert configs.probe.num_sentences == 9
    assert configs_from_settings({'preset': 'tiny'}).model == \
        MODEL_PRESETS['tiny']
    assert set(configs.to_dict()) == {'data', 'model', 'train', 'probe'}
    assert set(SEED_KEYS) < set(SETTING_KEYS)
    with pytest.raises(ConfigError, match=r'data.max_len \(200\) exceeds '
                       r'model.max_len \(128\)'):
        configs_from_settings({'data.max_len': 200}, preset='tiny')
    with pytest.raises(ConfigError, match='recipe must be one of'):
        configs_from_settings({}, recipe='fast')
