"""Where the work runs: the feature pipeline, the parse worker pool, the encoder's batcher
and the record batches it answers with."""
