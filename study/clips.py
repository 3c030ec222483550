"""Moved to trainables.clips (decoding videos into the clips the model reads sits below the analysis, which
embeds test videos with it); kept so code written against study.clips still imports. New code imports
trainables.clips."""
from trainables.clips import (
    FRAME_SAMPLINGS, RESIZES, DecodeSettings, decode_clip, default_cache_root, frame_indices, load_clips, write_clip,
)

__all__ = ["FRAME_SAMPLINGS", "RESIZES", "DecodeSettings", "decode_clip", "default_cache_root", "frame_indices",
           "load_clips", "write_clip"]
