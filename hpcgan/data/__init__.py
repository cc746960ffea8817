"""Training data: shard reading and the four training streams (the pixel transforms and D4 augmentation,
:mod:`hpcgan.astro.transforms`, are re-exported here).

Public API::

    from hpcgan.data import build_train_streams, TrainStreams, open_source, stamps_to_model
    from hpcgan.data import pixel_transform, inverse_pixel_transform, to_model_space, from_model_space
"""
from hpcgan.astro.transforms import (
    d4,
    d4_batch,
    d4_inverse,
    from_model_space,
    inverse_pixel_transform,
    pixel_transform,
    random_d4_codes,
    to_model_space,
)
from hpcgan.data.shards import ArraySource, ShardSource, open_source, rank_range, stamps_to_model
from hpcgan.data.streams import STREAMS, TrainStreams, build_train_streams

__all__ = ["ArraySource", "ShardSource", "open_source", "rank_range", "stamps_to_model", "STREAMS", "TrainStreams",
           "build_train_streams", "d4", "d4_batch", "d4_inverse", "from_model_space", "inverse_pixel_transform",
           "pixel_transform", "random_d4_codes", "to_model_space"]
