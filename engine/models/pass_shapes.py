"""The shapes of padded encoder passes: a fixed set of widths, a fixed row count per width.

When several sequences share a forward pass (``embedding_batch_size`` above 1), each is
padded to the smallest width of a fixed set (multiples of ``pad_multiple`` up to the
model's window, and the window itself), and under ``fixed`` shapes every pass of a width
has the same number of rows, the ones no sequence fills being empty rows. So every pass of
one width runs the same kernels on the same shape, and a sequence's final states do not
depend on which sequences share its pass or how many they are: the matmul libraries pick
their algorithm (tiles, split reductions) by shape, and that choice is what moves the last
bits of a batched result.

One row of every ``fixed`` pass is always an empty row: its attention mask has zeros, so
transformers never drops the mask (it does when no token of a pass is padding, which would
switch the attention kernel for that one pass). ``dynamic`` shapes pad to the longest
sequence of the pass and fill no rows: fewer wasted tokens, but a vector's last bits then
depend on its pass, so it is a setting of its own in the fingerprint.
"""

from __future__ import annotations

import bisect

import msgspec

from hemma_features.engine.settings import BatchShapes


class PassShapes(msgspec.Struct, frozen=True, kw_only=True):
    """Widths and rows of the padded passes (what ``/v1/config`` shows and the fingerprint
    hashes under ``batching``)."""

    mode: BatchShapes
    """``fixed``: every pass of a width has ``rows[width]`` rows; ``dynamic``: as many as
    there are sequences, padded to the longest."""
    widths: tuple[int, ...]
    """Padded sequence lengths, ascending; the last is the model's window."""
    rows: tuple[int, ...]
    """Rows per pass at each width (``token_budget // width``, at most ``batch_size``)."""

    @classmethod
    def build(
        cls, *, mode: BatchShapes, max_length: int, pad_multiple: int, batch_size: int,
        token_budget: int,
    ) -> PassShapes:  # fmt: skip
        """The shapes for a model window of ``max_length`` tokens.

        Args:
            mode: ``fixed`` or ``dynamic``.
            max_length: The longest sequence (the model's window).
            pad_multiple: Widths are its multiples (and ``max_length``).
            batch_size: Most rows in a pass (at least 2: one is kept empty under ``fixed``).
            token_budget: Most tokens (rows x width) in a pass.
        """
        step = max(1, pad_multiple)
        widths = sorted({*range(step, max_length, step), max_length})
        low = 2 if mode == "fixed" else 1
        rows = [max(low, min(batch_size, token_budget // width)) for width in widths]
        return cls(mode=mode, widths=tuple(widths), rows=tuple(rows))

    def width_for(self, length: int) -> int:
        """The smallest width that holds ``length`` tokens."""
        at = bisect.bisect_left(self.widths, length)
        if at == len(self.widths):
            raise ValueError(f"a sequence of {length} tokens is longer than the window")
        return self.widths[at]

    def rows_at(self, width: int) -> int:
        """Rows of every ``fixed`` pass at ``width`` (the most of a ``dynamic`` one)."""
        return self.rows[self.widths.index(width)]

    def capacity(self, width: int) -> int:
        """Sequences one pass at ``width`` takes (one row of a fixed pass stays empty)."""
        rows = self.rows_at(width)
        return rows - 1 if self.mode == "fixed" else rows

    def view(self) -> dict[str, object]:
        """For ``/v1/config`` and the fingerprint: the mode and rows per width."""
        return {
            "mode": self.mode,
            "rows_per_width": {str(w): r for w, r in zip(self.widths, self.rows, strict=True)},
        }
