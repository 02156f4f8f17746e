"""A d2l-style sandbox for pretraining BERT (MLM + NSP) in TensorFlow."""
import os

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notes) hides output
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from sandbox.config import DataConfig, ModelConfig, TrainConfig
from sandbox.data import BERTBatch, get_tokens_and_segments, load_data_wiki
from sandbox.model import BERTModel
from sandbox.probe import get_bert_encoding
from sandbox.train import train_bert

__all__ = ['BERTBatch', 'BERTModel', 'DataConfig', 'ModelConfig',
           'TrainConfig', 'get_bert_encoding', 'get_tokens_and_segments',
           'load_data_wiki', 'train_bert']
