"""How models load and run: spaCy, the embedder, the encoder backends and their choice,
the host's hardware, packaged models and exports. Features never import this room."""
