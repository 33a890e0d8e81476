import pytest

from spacy_kd_ner.random_transformer import SHAPES, save_random_transformer


def test_tiny_random_transformer_loads(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    path = save_random_transformer(tmp_path / "tiny", "tiny", seed=1)
    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.hidden_size == SHAPES["tiny"]["hidden_size"]
    assert model.config.num_hidden_layers == SHAPES["tiny"]["num_hidden_layers"]
    assert model.config.vocab_size == tokenizer.vocab_size
    assert tokenizer.tokenize("Hello world") == ["hello", "world"]


def test_unknown_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown shape 'huge'"):
        save_random_transformer(tmp_path, "huge")
