"""Tests for sandbox.config: defaults, presets, errors that name fields."""
import pytest

from sandbox.config import (MODEL_PRESETS, ModelConfig, ProbeConfig,
                            model_preset)


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
