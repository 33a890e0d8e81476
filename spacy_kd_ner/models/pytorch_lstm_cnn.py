"""The LSTM-CNN encoder as a torch module (word embeddings, char-CNN, BiLSTM).

Shapes follow the paper's code (NLP Architect's ``NERCRF``): 16-d characters,
128 filters of width 3 max-pooled over each word, a 2-layer BiLSTM of 100 units
per direction, dropout 0.5.
"""

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

PAD_ID = 0
"""Row 0 of both embedding tables is padding; words use 1 as 'unknown'."""
UNKNOWN_WORD_ID = 1


class ResizableEmbedding(nn.Embedding):
    """An embedding table whose row count is only known once the pipeline's
    vectors (or the hashing size) are seen at initialization, and which takes
    the row count of whatever state dict is loaded into it."""

    def resize(self, num_embeddings: int) -> None:
        weight = torch.empty(num_embeddings, self.embedding_dim)
        nn.init.normal_(weight, std=0.1)
        weight[PAD_ID] = 0.0
        self.weight = nn.Parameter(weight.to(self.weight.device))
        self.num_embeddings = num_embeddings

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        incoming = state_dict.get(prefix + "weight")
        if incoming is not None and incoming.shape[0] != self.num_embeddings:
            self.resize(incoming.shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args)


class CharCNN(nn.Module):
    """Character embeddings -> 1d convolution -> max-pool over the word."""

    def __init__(self, n_chars: int, char_dim: int, n_filters: int, kernel: int):
        super().__init__()
        self.embed = nn.Embedding(n_chars, char_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(char_dim, n_filters, kernel, padding=kernel // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """char_ids: (n_words, max_chars) -> (n_words, n_filters).

        The convolution runs as one matrix product over (word, position)
        windows, with the Conv1d's own weights. Each window also carries a
        "padding" indicator whose weight is -1e4 for every filter, so that the
        same product masks the positions past a word's end for the max-pool
        (faster on a CPU than conv1d and a separate mask: docs/experiments.md).
        """
        n_words, n_positions = char_ids.shape
        kernel = self.conv.kernel_size[0]
        X = F.pad(self.embed(char_ids), (0, 0, kernel // 2, kernel // 2))
        pad = (char_ids == PAD_ID).unsqueeze(2).to(X.dtype)
        windows = X.unfold(1, kernel, 1).reshape(n_words, n_positions, -1)
        windows = torch.cat([windows, pad], dim=2).reshape(-1, windows.shape[2] + 1)
        n_filters = self.conv.out_channels
        W = torch.cat(
            [
                self.conv.weight.reshape(n_filters, -1),
                torch.full((n_filters, 1), -1e4, dtype=X.dtype, device=X.device),
            ],
            dim=1,
        )
        bias = cast(torch.Tensor, self.conv.bias)
        H = torch.addmm(bias, windows, W.T).reshape(n_words, n_positions, n_filters)
        pooled = H.amax(dim=1)
        # Padding words (no characters at all) get zeros, not -1e4.
        has_chars = (pad.squeeze(2) < 1).any(dim=1, keepdim=True)
        return pooled * has_chars.to(pooled.dtype)


class LSTMCNNEncoder(nn.Module):
    """(word ids, char ids, lengths) -> contextual token vectors.

    The tokens of a batch come flat, doc after doc, so that nothing is
    computed for padding but the BiLSTM's packed sequences: word_ids (n_tokens,)
    long; char_ids (n_tokens, max_chars) long; lengths (batch,) long, the
    tokens per doc, on the CPU; priors (n_tokens, prior_dim) float, the
    teacher's word priors (`word_priors.py`), inputs of the BiLSTM beside the
    word and char features (none with prior_dim 0). Returns (n_tokens,
    2 * hidden_size). With freeze_words, no gradient reaches the word table:
    it stays as it was started (from static vectors) while the rest learns.
    """

    def __init__(
        self,
        *,
        word_dim: int,
        n_chars: int,
        char_dim: int,
        char_filters: int,
        char_kernel: int,
        hidden_size: int,
        depth: int,
        dropout: float,
        freeze_words: bool = False,
        prior_dim: int = 0,
    ):
        super().__init__()
        self.freeze_words = freeze_words
        self.prior_dim = prior_dim
        self.words = ResizableEmbedding(2, word_dim, padding_idx=PAD_ID)
        self.chars = CharCNN(n_chars, char_dim, char_filters, char_kernel)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            word_dim + char_filters + prior_dim,
            hidden_size,
            num_layers=depth,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if depth > 1 else 0.0,
        )

    def embed(
        self, word_ids: torch.Tensor, char_ids: torch.Tensor, priors: torch.Tensor
    ) -> torch.Tensor:
        """The BiLSTM's inputs: word embeddings, char-CNN features and word
        priors, (n_tokens, word_dim + char_filters + prior_dim), before
        dropout."""
        words = self.words(word_ids)
        if self.freeze_words:
            words = words.detach()
        parts = [words, self.chars(char_ids)]
        if self.prior_dim:
            parts.append(priors.to(words.dtype))
        return torch.cat(parts, dim=-1)

    def forward(
        self,
        word_ids: torch.Tensor,
        char_ids: torch.Tensor,
        lengths: torch.Tensor,
        priors: torch.Tensor,
    ) -> torch.Tensor:
        X = self.dropout(self.embed(word_ids, char_ids, priors))
        sizes = [int(n) for n in lengths if n > 0]
        if len(sizes) <= 1:
            H, _ = self.lstm(X.unsqueeze(0))
            return self.dropout(H[0])
        packed = pack_sequence(list(torch.split(X, sizes)), enforce_sorted=False)
        H_packed, _ = self.lstm(packed)
        H_padded, _ = pad_packed_sequence(H_packed, batch_first=True)
        kept = torch.tensor(sizes)
        mask = torch.arange(H_padded.shape[1])[None, :] < kept[:, None]
        return self.dropout(H_padded[mask])
