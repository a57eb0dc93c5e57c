"""The Arrow file layer: partitioned Arrow datasets on disk, written safely.

Used alike by the client's cache (``hemma_features.client.cache``) and the server's
feature store (``hemma_features.engine.feature_store``), owned by neither:

- ``atomic``: hidden temp name, fsync, rename, fsync the directory; the sha256 of a
  written table;
- ``layout``: ``ROOT/fingerprint=<fp>/feature_set=<fs>/part-<sha256>.<suffix>`` and the
  manifest ``ROOT/_hemma-cache.json``;
- ``checksums``: does a file still hash to its name (memoised per process);
- ``lock``: one portable exclusive lock per partition (``filelock``);
- ``damaged``: verified file lists; damaged files moved aside to ``ROOT/_damaged/``;
- ``journal``: multi-file rewrites that a crash finishes or rolls back;
- ``keyindex``: which keys a partition holds and where, loaded once per file and process;
- ``compaction``: size tiers of files merged automatically, and the full merge;
- ``partitions``: ``PartitionedDataset``, which adds rows whose key is new;
- ``segments``: buffered writers committing a file every few seconds or 64 MiB.
"""
